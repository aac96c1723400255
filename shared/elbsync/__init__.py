"""elbsync: keeps Huawei Cloud ELB v3 pools in step with Auto Scaling and deployments."""

__all__ = ["__version__"]

__version__ = "0.1.0"
