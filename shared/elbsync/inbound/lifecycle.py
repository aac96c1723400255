"""The Auto Scaling lifecycle notification, as the SMN message string decodes to.

Parsed defensively: fields Auto Scaling may add later are kept, never refused, and the fields
elbsync does not read (``tenant_id``, ``instance_name``, ``scaling_config_*``) may hold any JSON
value. The ids are strict, though: they are sent back to Auto Scaling and name records, so one
that is not a plain identifier is refused here, before any call is made with it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

__all__ = [
    "HOOK_NAME_PATTERN",
    "SCHEMA_FILE",
    "LifecycleNotification",
    "Unread",
]

SCHEMA_FILE = "autoscaling-lifecycle.schema.json"
#: Action keys, instance and group ids are UUIDs in practice; any plain identifier is accepted.
ID_PATTERN = r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$"
#: Auto Scaling's own rule for hook names: 1 to 32 letters, digits, ``_`` and ``-``.
HOOK_NAME_PATTERN = r"^[A-Za-z0-9_-]+$"
#: A field elbsync never reads: any JSON value, so a producer's change to it costs no event.
Unread = Annotated[JsonValue, Field(description="not read by elbsync: any value is accepted")]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)


class ScalingInstance(_Open):
    instance_id: str = Field(min_length=1, max_length=64, pattern=ID_PATTERN)
    instance_name: Unread = None
    instance_ip: str | None = None


class ScalingGroup(_Open):
    scaling_group_id: str = Field(min_length=1, max_length=64, pattern=ID_PATTERN)
    scaling_group_name: str | None = None
    scaling_config_id: Unread = None
    scaling_config_name: Unread = None


class LifecycleNotification(_Open):
    model_config = ConfigDict(
        json_schema_extra={
            "title": "Auto Scaling lifecycle notification",
            "description": (
                "The decoded smn.message of a lifecycle hook notification. Fields not listed are "
                "allowed (Auto Scaling may add some), and fields elbsync does not read "
                "(tenant_id, instance_name, scaling_config_id, scaling_config_name) are accepted "
                "whatever their value. The ids are sent back to Auto Scaling and name records, "
                "so they are plain identifiers (UUIDs in practice): letters, digits, _ - and . "
                "(not first); hook names are Auto Scaling's 1 to 32 letters, digits, _ and -."
            ),
        }
    )

    service: Literal["AutoScaling"]
    lifecycle_hook_type: Literal["INSTANCE_LAUNCHING", "INSTANCE_TERMINATING"]
    lifecycle_hook_name: str = Field(min_length=1, max_length=32, pattern=HOOK_NAME_PATTERN)
    lifecycle_action_key: str = Field(min_length=1, max_length=128, pattern=ID_PATTERN)
    scaling_instance: ScalingInstance
    scaling_group: ScalingGroup
    tenant_id: Unread = None
    notification_metadata: str | None = Field(default=None, max_length=256)

    @property
    def launching(self) -> bool:
        return self.lifecycle_hook_type == "INSTANCE_LAUNCHING"
