"""Request authentication for every remote call, as ``httpx.Auth`` classes, one module per
signature (import the one you need; a handler pays only for its own):

- :mod:`.sdk_hmac`: ``AkSkAuth`` (SDK-HMAC-SHA256 for Huawei Cloud APIs: ELB, Auto Scaling,
  ECS) and ``TokenAuth`` (an IAM token in ``X-Auth-Token``);
- :mod:`.s3v4`: ``S3SigV4Auth`` (AWS Signature Version 4, for S3-compatible stores and OBS);
- :mod:`.obs`: ``ObsAuth`` (OBS's native signature);
- :mod:`.base`: what the access-key signers share.
"""
