"""Bindings: which pools a scaling group's instances join, and how they are let in and out.

A binding document is JSON, read from ``ELBSYNC_BINDINGS`` or, when it outgrows FunctionGraph's
4 KB of variables, from an object in the state store named by ``ELBSYNC_BINDINGS_KEY``.
A lifecycle hook's ``notification_metadata`` may name the binding to use
(``binding=NAME``, ``{"binding": "NAME"}`` or just ``NAME``).
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from elbsync.errors import ConfigError, InputError
from elbsync.inbound.ids import ResourceId
from elbsync.inbound.lifecycle import LifecycleNotification
from elbsync.inbound.validation import parse

# Algorithms whose pools ignore member weights: draining by weight 0 does nothing there.
WEIGHTLESS_ALGORITHMS = frozenset({"SOURCE_IP", "QUIC_CID"})


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class PoolBinding(_Doc):
    pool_id: ResourceId
    load_balancer_id: ResourceId | None = None
    protocol_port: int = Field(ge=1, le=65535)
    weight: int = Field(default=1, ge=0, le=100)
    subnet_cidr_id: str | None = Field(
        default=None, min_length=1, max_length=64, description="None: look it up in ECS"
    )
    listener_ids: list[ResourceId] = Field(default_factory=list, max_length=10)
    drain_seconds: int = Field(default=30, ge=0, le=3600)
    lb_algorithm: str = Field(default="ROUND_ROBIN", pattern=r"^[A-Z_]+$")

    @property
    def serialisation_key(self) -> str:
        """Writes to one load balancer are serialised; unknown balancer: the pool alone."""
        return self.load_balancer_id or f"pool:{self.pool_id}"

    @property
    def honours_weights(self) -> bool:
        return self.lb_algorithm not in WEIGHTLESS_ALGORITHMS


class HealthGate(_Doc):
    """When a launching instance may go into service (decided by the poller)."""

    timeout_seconds: int = Field(default=600, ge=30, le=86_400)
    on_failure: Literal["ABANDON", "CONTINUE"] = "ABANDON"
    max_extends: int = Field(default=3, ge=0, le=24)


class Binding(_Doc):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    scaling_group_id: str | None = None
    scaling_group_name: str | None = None
    pools: list[PoolBinding] = Field(min_length=1, max_length=20)
    health_gate: HealthGate = HealthGate()

    @model_validator(mode="after")
    def _names_a_group(self) -> Binding:
        if not (self.scaling_group_id or self.scaling_group_name):
            raise ValueError("needs scaling_group_id or scaling_group_name")
        return self


class BindingDocument(_Doc):
    version: Literal[1] = 1
    bindings: list[Binding] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> BindingDocument:
        names = [binding.name for binding in self.bindings]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"binding names must be unique: {', '.join(duplicates)}")
        return self

    @classmethod
    def from_json(cls, text: str, *, source: str) -> BindingDocument:
        """Parse and validate a document; errors name ``source`` and the field path."""
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(source, f"bindings are not JSON ({exc.msg})") from exc
        try:
            return parse(cls, raw, at="")
        except InputError as exc:
            raise ConfigError(source, f"invalid bindings: {exc.message}") from exc

    def for_notification(self, note: LifecycleNotification) -> Binding:
        """The binding a lifecycle notification asks for: by metadata name, else by group.

        ``binding=NAME`` and ``{"binding": "NAME"}`` must name an existing binding; bare text
        names one only if a binding has that name (metadata is free text for operators).
        """
        wanted, explicit = _binding_name(note.notification_metadata)
        if wanted is not None:
            for binding in self.bindings:
                if binding.name == wanted:
                    return binding
            if explicit:
                raise InputError(
                    f"names binding {wanted!r}, which does not exist",
                    field="notification_metadata",
                )
        group = note.scaling_group
        for binding in self.bindings:
            if binding.scaling_group_id and binding.scaling_group_id == group.scaling_group_id:
                return binding
        for binding in self.bindings:
            same_name = binding.scaling_group_name == group.scaling_group_name
            other_group = binding.scaling_group_id not in (None, group.scaling_group_id)
            if binding.scaling_group_name and same_name and not other_group:
                return binding
        raise InputError(
            f"no binding for scaling group {group.scaling_group_id} "
            f"({group.scaling_group_name or 'no name'})",
            field="scaling_group",
        )

    def pool(self, pool_id: str) -> PoolBinding | None:
        """The first binding entry for a pool, for its load balancer and algorithm."""
        for binding in self.bindings:
            for pool in binding.pools:
                if pool.pool_id == pool_id:
                    return pool
        return None


def _binding_name(metadata: str | None) -> tuple[str | None, bool]:
    """(name, explicit) from hook metadata: explicit forms must exist, bare text may not."""
    if not metadata or not metadata.strip():
        return None, False
    text = metadata.strip()
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            return None, False
        name = parsed.get("binding") if isinstance(parsed, dict) else None
        return (str(name), True) if name else (None, False)
    for part in text.replace(";", ",").split(","):
        key, sep, value = part.partition("=")
        if sep and key.strip() == "binding":
            return (value.strip() or None), True
    return (None, False) if "=" in text else (text, False)
