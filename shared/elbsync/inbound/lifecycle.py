"""The Auto Scaling lifecycle notification, as the SMN message string decodes to.

Parsed defensively: fields Auto Scaling may add later are kept, never refused, and the fields
elbsync does not read (``tenant_id``, ``instance_name``, ``scaling_config_*``) may hold any JSON
value. The ids are strict, though: they are sent back to Auto Scaling and name records, so one
that is not a plain identifier is refused here, before any call is made with it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

SCHEMA_FILE = "autoscaling-lifecycle.schema.json"
#: Action keys, instance and group ids are UUIDs in practice; any plain identifier is accepted.
ID_PATTERN = r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$"
#: Auto Scaling's own rule for hook names: 1 to 32 letters, digits, ``_`` and ``-``.
HOOK_NAME_PATTERN = r"^[A-Za-z0-9_-]+$"


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)


class ScalingInstance(_Open):
    instance_id: str = Field(min_length=1, max_length=64, pattern=ID_PATTERN)
    instance_name: JsonValue = None
    instance_ip: str | None = None


class ScalingGroup(_Open):
    scaling_group_id: str = Field(min_length=1, max_length=64, pattern=ID_PATTERN)
    scaling_group_name: str | None = None
    scaling_config_id: JsonValue = None
    scaling_config_name: JsonValue = None


class LifecycleNotification(_Open):
    service: Literal["AutoScaling"]
    lifecycle_hook_type: Literal["INSTANCE_LAUNCHING", "INSTANCE_TERMINATING"]
    lifecycle_hook_name: str = Field(min_length=1, max_length=32, pattern=HOOK_NAME_PATTERN)
    lifecycle_action_key: str = Field(min_length=1, max_length=128, pattern=ID_PATTERN)
    scaling_instance: ScalingInstance
    scaling_group: ScalingGroup
    tenant_id: JsonValue = None
    notification_metadata: str | None = Field(default=None, max_length=256)

    @property
    def launching(self) -> bool:
        return self.lifecycle_hook_type == "INSTANCE_LAUNCHING"
