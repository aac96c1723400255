"""Request authentication for every remote call, as ``httpx.Auth`` classes.

- :class:`AkSkAuth`: SDK-HMAC-SHA256 for Huawei Cloud APIs (ELB, Auto Scaling, ECS).
- :class:`TokenAuth`: an IAM token in ``X-Auth-Token``.
"""

from elbsync.http.auth.obs import ObsAuth
from elbsync.http.auth.s3v4 import S3SigV4Auth
from elbsync.http.auth.sdk_hmac import AkSkAuth, TokenAuth

__all__ = ["AkSkAuth", "ObsAuth", "S3SigV4Auth", "TokenAuth"]
