"""Bindings: which pools a scaling group's instances join, and how they are let in and out.

A binding document is JSON, read from ``ELBSYNC_BINDINGS`` or, when it outgrows FunctionGraph's
4 KB of variables, from an object in the state store named by ``ELBSYNC_BINDINGS_KEY``.
A lifecycle hook's ``notification_metadata`` may name the binding to use
(``binding=NAME``, ``{"binding": "NAME"}`` or just ``NAME``).

elbsync completes only the lifecycle hooks it owns: a group may carry up to five hooks on one
SMN topic, and another team's (log upload, backups) must run its course. A binding that lists
``hooks`` owns exactly those hook names. One that lists none owns the hooks whose metadata names
it or is the bare word ``elbsync``. Any other notification is not elbsync's
(:class:`NotOurs`): it is acknowledged and ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from elbsync.errors import ConfigError, InputError
from elbsync.inbound.ids import ResourceId
from elbsync.inbound.lifecycle import HOOK_NAME_PATTERN, LifecycleNotification
from elbsync.inbound.validation import parse

__all__ = [
    "MAX_HOOKS",
    "PRODUCT_MARK",
    "WEIGHTLESS_ALGORITHMS",
    "Binding",
    "BindingDocument",
    "HealthGate",
    "HookName",
    "NotOurs",
    "PoolBinding",
]

# Algorithms whose pools ignore member weights: draining by weight 0 does nothing there.
WEIGHTLESS_ALGORITHMS = frozenset({"SOURCE_IP", "QUIC_CID"})
#: Hook metadata that marks a hook as elbsync's when its binding lists no ``hooks``.
PRODUCT_MARK = "elbsync"
#: Auto Scaling allows at most five lifecycle hooks per group.
MAX_HOOKS = 5
HookName = Annotated[str, Field(min_length=1, max_length=32, pattern=HOOK_NAME_PATTERN)]


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
    hooks: list[HookName] = Field(
        default_factory=list,
        max_length=MAX_HOOKS,
        description=(
            "Names of the group's lifecycle hooks elbsync completes; none: the hooks whose "
            "notification_metadata names this binding or is the word elbsync"
        ),
    )

    def owns(self, hook_name: str, *, marked: bool) -> bool:
        """Whether elbsync completes this hook: listed, or (none listed) ``marked`` for elbsync
        by its metadata."""
        return hook_name in self.hooks if self.hooks else marked

    @model_validator(mode="after")
    def _names_a_group(self) -> Binding:
        if not (self.scaling_group_id or self.scaling_group_name):
            raise ValueError("needs scaling_group_id or scaling_group_name")
        return self


@dataclass(frozen=True)
class NotOurs:
    """A lifecycle notification for a hook elbsync does not own, and why."""

    reason: str


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

    def for_notification(self, note: LifecycleNotification) -> Binding | NotOurs:
        """The binding that owns a notification's hook, or why elbsync leaves it alone.

        The metadata may name the binding (``binding=NAME`` and ``{"binding": "NAME"}`` must
        name an existing one; bare text names one only if a binding has that name, metadata
        being free text for operators); else the binding of the scaling group is used. Either
        way the binding must own the hook (:meth:`Binding.owns`). A notification marked for
        elbsync whose group no binding covers is a configuration error, not someone else's.
        """
        wanted, explicit = _binding_name(note.notification_metadata)
        hook = note.lifecycle_hook_name
        named = next((b for b in self.bindings if b.name == wanted), None)
        if wanted is not None and named is None and explicit:
            raise InputError(
                f"names binding {wanted!r}, which does not exist", field="notification_metadata"
            )
        binding = named or self._for_group(note)
        marked = named is not None or wanted == PRODUCT_MARK
        if binding is None:
            group = note.scaling_group
            problem = (
                f"no binding for scaling group {group.scaling_group_id} "
                f"({group.scaling_group_name or 'no name'})"
            )
            if marked:
                raise InputError(problem, field="scaling_group.scaling_group_id")
            return NotOurs(f"{problem}, and the hook's metadata does not name elbsync")
        if binding.owns(hook, marked=marked):
            return binding
        if binding.hooks:
            owned = ", ".join(binding.hooks)
            return NotOurs(f"hook {hook} is not one of binding {binding.name}'s hooks ({owned})")
        return NotOurs(
            f"binding {binding.name} lists no hooks, and the metadata of hook {hook} "
            f"names neither {PRODUCT_MARK!r} nor the binding"
        )

    def _for_group(self, note: LifecycleNotification) -> Binding | None:
        group = note.scaling_group
        for binding in self.bindings:
            if binding.scaling_group_id and binding.scaling_group_id == group.scaling_group_id:
                return binding
        for binding in self.bindings:
            same_name = binding.scaling_group_name == group.scaling_group_name
            other_group = binding.scaling_group_id not in (None, group.scaling_group_id)
            if binding.scaling_group_name and same_name and not other_group:
                return binding
        return None

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
