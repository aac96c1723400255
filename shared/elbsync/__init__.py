"""elbsync: keeps Huawei Cloud ELB v3 pools in step with Auto Scaling and deployments."""

__version__ = "0.1.0"
