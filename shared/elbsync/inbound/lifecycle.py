"""The Auto Scaling lifecycle notification, as the SMN message string decodes to.

Parsed defensively: fields Auto Scaling may add later are kept, never refused.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_FILE = "autoscaling-lifecycle.schema.json"


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)


class ScalingInstance(_Open):
    instance_id: str = Field(min_length=1, max_length=64)
    instance_name: str | None = None
    instance_ip: str | None = None


class ScalingGroup(_Open):
    scaling_group_id: str = Field(min_length=1, max_length=64)
    scaling_group_name: str | None = None
    scaling_config_id: str | None = None
    scaling_config_name: str | None = None


class LifecycleNotification(_Open):
    service: Literal["AutoScaling"]
    lifecycle_hook_type: Literal["INSTANCE_LAUNCHING", "INSTANCE_TERMINATING"]
    lifecycle_hook_name: str = Field(min_length=1, max_length=64)
    lifecycle_action_key: str = Field(min_length=1, max_length=128)
    scaling_instance: ScalingInstance
    scaling_group: ScalingGroup
    tenant_id: str | None = None
    notification_metadata: str | None = Field(default=None, max_length=256)

    @property
    def launching(self) -> bool:
        return self.lifecycle_hook_type == "INSTANCE_LAUNCHING"
