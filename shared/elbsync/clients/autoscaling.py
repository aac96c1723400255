"""Auto Scaling lifecycle hooks: every call to the Auto Scaling API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from elbsync.errors import InputError
from elbsync.http.session import ApiSession, QueryValue, path_id, reply_list

__all__ = ["AutoScalingClient", "HangingInstance", "LifecycleResult"]

LifecycleResult = Literal["CONTINUE", "ABANDON", "EXTEND"]


class HangingInstance(BaseModel):
    """An instance held by a lifecycle hook, as the list API reports it."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    instance_id: str
    scaling_group_id: str | None = None
    lifecycle_hook_name: str | None = None
    lifecycle_action_key: str | None = None
    timeout: str | None = None
    default_result: str | None = None


class AutoScalingClient:
    def __init__(self, session: ApiSession, *, endpoint: str, project_id: str) -> None:
        self._session = session
        project = path_id(project_id, "project_id")
        self._base = f"{endpoint.rstrip('/')}/autoscaling-api/v1/{project}/scaling_instance_hook"

    def complete_lifecycle_action(
        self,
        scaling_group_id: str,
        result: LifecycleResult,
        *,
        action_key: str | None = None,
        instance_id: str | None = None,
        hook_name: str | None = None,
    ) -> None:
        """CONTINUE, ABANDON or EXTEND a hanging action, by its key or by instance + hook name."""
        body: dict[str, object] = {"lifecycle_action_result": result}
        if action_key:
            body["lifecycle_action_key"] = action_key
        elif instance_id and hook_name:
            body["instance_id"] = instance_id
            body["lifecycle_hook_name"] = hook_name
        else:
            raise InputError("needs an action key, or an instance id and a hook name")
        url = f"{self._base}/{path_id(scaling_group_id, 'scaling_group_id')}/callback"
        self._session.call("PUT", url, operation="as.callback", json_body=body, expect=(204, 200))

    def list_hanging_instances(
        self, scaling_group_id: str, *, instance_id: str | None = None
    ) -> list[HangingInstance]:
        url = f"{self._base}/{path_id(scaling_group_id, 'scaling_group_id')}/list"
        params: dict[str, QueryValue] = {}
        if instance_id:
            params["instance_id"] = instance_id
        body = self._session.call("GET", url, operation="as.list_hanging", params=params)
        return reply_list(body, "instance_hanging_info", HangingInstance, "as.list_hanging")
