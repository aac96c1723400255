"""Request authentication for every remote call, as ``httpx.Auth`` classes.

- :class:`AkSkAuth`: SDK-HMAC-SHA256 for Huawei Cloud APIs (ELB, Auto Scaling, ECS).
- :class:`TokenAuth`: an IAM token in ``X-Auth-Token``.
"""

from elbsync.auth.sdk_hmac import AkSkAuth, TokenAuth

__all__ = ["AkSkAuth", "TokenAuth"]
