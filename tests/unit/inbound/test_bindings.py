"""Binding documents: parsing, errors that name their source, and which binding a hook uses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from elbsync.errors import ConfigError, InputError
from elbsync.inbound.bindings import Binding, BindingDocument, NotOurs
from elbsync.inbound.lifecycle import LifecycleNotification

from tests.events import load_event

SOURCE = "ELBSYNC_BINDINGS"
GROUP_ID = "b338afd6-b776-4568-a9ca-4bb956e78ec7"  # asg-web in the emulator's default world
LB_WEB = "45ac16b9-c20d-4c21-8f8a-7abff2e91ac7"
POOL_WEB = "e179f773-a6e0-43c0-9514-b7dde2ad0478"
POOL_API = "0c28cec1-b947-42af-a4b9-36976b4b76b0"
POOL_DNS = "ac9130f4-547c-47d3-8e3a-655f20731ab2"
LISTENER_HTTP = "3c3ae353-fb14-428e-90b4-01a6c1cc0aff"

BY_ID = {
    "name": "elbsync",
    "scaling_group_id": GROUP_ID,
    "pools": [
        {
            "pool_id": POOL_WEB,
            "load_balancer_id": LB_WEB,
            "protocol_port": 80,
            "listener_ids": [LISTENER_HTTP],
        },
        {"pool_id": POOL_API, "protocol_port": 8080, "weight": 10, "drain_seconds": 0},
    ],
}
BY_NAME = {
    "name": "blue",
    "scaling_group_name": "asg-web",
    "pools": [{"pool_id": POOL_WEB, "protocol_port": 8081}],
}
ELSEWHERE = {
    "name": "green",
    "scaling_group_id": "11111111-2222-4333-8444-555555555555",
    "scaling_group_name": "asg-other",
    "pools": [{"pool_id": POOL_DNS, "protocol_port": 53, "lb_algorithm": "SOURCE_IP"}],
}


def document(*bindings: dict[str, Any], source: str = SOURCE) -> BindingDocument:
    return BindingDocument.from_json(
        json.dumps({"version": 1, "bindings": list(bindings)}), source=source
    )


def config_error(text: str, source: str = SOURCE) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        BindingDocument.from_json(text, source=source)
    return caught.value


def launch(metadata: str | None = "elbsync", **group: str | None) -> LifecycleNotification:
    """The launching sample's notification, with other metadata or group fields."""
    record = load_event("member_events/smn_launching")["record"][0]
    message = json.loads(record["smn"]["message"])
    message["notification_metadata"] = metadata
    message["scaling_group"].update(group)
    return LifecycleNotification.model_validate(message)


def chosen(doc: BindingDocument, note: LifecycleNotification) -> str:
    binding = doc.for_notification(note)
    assert isinstance(binding, Binding), binding
    return binding.name


def ignored(doc: BindingDocument, note: LifecycleNotification) -> str:
    verdict = doc.for_notification(note)
    assert isinstance(verdict, NotOurs), verdict
    return verdict.reason


def owning(binding: dict[str, Any], *hooks: str) -> dict[str, Any]:
    """``binding`` owning exactly these hooks by name."""
    return {**binding, "hooks": list(hooks)}


@pytest.mark.parametrize(
    "metadata",
    [
        "binding=blue",
        "binding = blue",
        '{"binding": "blue"}',
        ' {"binding": "blue", "owner": "ops"} ',
        "blue",
        "  blue  ",
        "team=web,binding=blue",
        "binding=blue; owner=ops",
    ],
)
def test_hook_metadata_can_name_the_binding_in_any_of_its_forms(metadata: str) -> None:
    doc = document(BY_ID, BY_NAME)

    assert chosen(doc, launch(metadata)) == "blue"


def test_the_sample_hooks_metadata_names_the_elbsync_binding() -> None:
    doc = document(BY_NAME, BY_ID)

    assert chosen(doc, launch()) == "elbsync"


@pytest.mark.parametrize(
    "metadata",
    [None, "", "   ", "team=web", "binding=", '{"owner": "ops"}', '{"binding": ""}', "{not json"],
    ids=[
        "none",
        "empty",
        "blank",
        "other-key",
        "empty-binding",
        "json-without-binding",
        "json-empty-binding",
        "broken-json",
    ],
)
def test_metadata_that_names_no_binding_falls_back_to_the_group_id_first(
    metadata: str | None,
) -> None:
    # BY_NAME matches asg-web by name and comes first; the id match still wins.
    doc = document(owning(BY_NAME, "elbsync-launch"), owning(BY_ID, "elbsync-launch"))

    assert chosen(doc, launch(metadata)) == "elbsync"


@pytest.mark.parametrize(
    "metadata",
    [None, "", "team=web", '{"owner": "ops"}', "log-upload", "elbsync-not"],
)
def test_a_hook_not_marked_for_elbsync_is_not_ours_when_its_binding_lists_no_hooks(
    metadata: str | None,
) -> None:
    doc = document(BY_NAME, {**BY_ID, "name": "web"})

    reason = ignored(doc, launch(metadata))

    assert "binding web lists no hooks" in reason
    assert "elbsync-launch" in reason


def test_a_binding_that_lists_hooks_owns_only_those() -> None:
    doc = document(owning(BY_ID, "elbsync-launch", "elbsync-terminate"))

    assert chosen(doc, launch(None)) == "elbsync"
    note = launch("elbsync").model_copy(update={"lifecycle_hook_name": "log-upload"})
    assert "hook log-upload is not one of binding elbsync's hooks" in ignored(doc, note)


def test_metadata_naming_a_binding_does_not_override_the_hooks_it_lists() -> None:
    doc = document(owning(BY_NAME, "blue-launch"), BY_ID)

    assert "not one of binding blue's hooks (blue-launch)" in ignored(doc, launch("binding=blue"))


def test_without_a_group_id_match_the_group_name_decides() -> None:
    doc = document(ELSEWHERE, BY_NAME)

    assert chosen(doc, launch("elbsync")) == "blue"


def test_another_groups_hook_is_not_ours() -> None:
    doc = document(ELSEWHERE)

    reason = ignored(doc, launch(None))

    assert GROUP_ID in reason
    assert "asg-web" in reason


def test_a_hook_marked_for_elbsync_on_a_group_no_binding_covers_is_refused() -> None:
    doc = document(ELSEWHERE)

    with pytest.raises(InputError) as caught:
        doc.for_notification(launch("elbsync"))

    assert caught.value.field == "scaling_group.scaling_group_id"
    assert GROUP_ID in caught.value.message
    assert "asg-web" in caught.value.message


def test_a_group_without_a_name_is_reported_as_such() -> None:
    doc = document(ELSEWHERE)

    with pytest.raises(InputError, match="no name"):
        doc.for_notification(launch("elbsync", scaling_group_name=None))


@pytest.mark.parametrize("hooks", [["bad name"], [""], ["x" * 33], ["a", "b", "c", "d", "e", "f"]])
def test_hook_names_in_a_binding_follow_auto_scalings_rules(hooks: list[str]) -> None:
    error = config_error(json.dumps({"bindings": [{**BY_ID, "hooks": hooks}]}))

    assert "bindings[0]" in error.message


def test_metadata_naming_an_unknown_binding_is_refused_not_guessed() -> None:
    doc = document(BY_ID, BY_NAME)

    with pytest.raises(InputError) as caught:
        doc.for_notification(launch("binding=purple"))

    assert caught.value.field == "notification_metadata"
    assert "'purple'" in caught.value.message


def test_an_empty_document_binds_nothing() -> None:
    doc = BindingDocument.from_json("{}", source=SOURCE)

    assert doc.bindings == []
    assert "no binding for scaling group" in ignored(doc, launch(None))
    with pytest.raises(InputError):
        doc.for_notification(launch("elbsync"))


def test_duplicate_binding_names_are_refused_naming_the_variable_and_the_name() -> None:
    error = config_error(json.dumps({"bindings": [BY_NAME, {**BY_ID, "name": "blue"}]}))

    assert error.variable == SOURCE
    assert error.message.startswith(f"{SOURCE}: ")
    assert "unique: blue" in error.message


def test_a_document_that_is_not_json_is_refused_naming_the_variable() -> None:
    error = config_error("{bindings: []}", source="ELBSYNC_BINDINGS_KEY")

    assert error.variable == "ELBSYNC_BINDINGS_KEY"
    assert "not JSON" in error.message


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            {"pools": [{"pool_id": POOL_WEB, "protocol_port": 0}]},
            "bindings[0].pools[0].protocol_port",
        ),
        (
            {"pools": [{"pool_id": POOL_WEB, "protocol_port": 80, "weight": 101}]},
            "bindings[0].pools[0].weight",
        ),
        (
            {"pools": [{"pool_id": POOL_WEB, "protocol_port": 80, "drain_second": 5}]},
            "bindings[0].pools[0].drain_second",
        ),
        ({"pools": [{"pool_id": "pool 1", "protocol_port": 80}]}, "bindings[0].pools[0].pool_id"),
        ({"pools": []}, "bindings[0].pools"),
        ({"name": "has space"}, "bindings[0].name"),
        ({"health_gate": {"timeout_seconds": 5}}, "bindings[0].health_gate.timeout_seconds"),
        ({"health_gate": {"on_failure": "EXTEND"}}, "bindings[0].health_gate.on_failure"),
    ],
    ids=[
        "port",
        "weight",
        "unknown-field",
        "pool-id",
        "no-pools",
        "name",
        "gate-timeout",
        "gate-result",
    ],
)
def test_an_invalid_binding_is_refused_naming_the_variable_and_the_field(
    change: dict[str, Any], field: str
) -> None:
    error = config_error(json.dumps({"bindings": [{**BY_ID, **change}]}))

    assert error.message.startswith(f"{SOURCE}: invalid bindings: {field}: ")


def test_a_binding_must_name_its_scaling_group() -> None:
    anonymous = {"name": "x", "pools": BY_ID["pools"]}

    error = config_error(json.dumps({"bindings": [anonymous]}))

    assert "needs scaling_group_id or scaling_group_name" in error.message


def test_an_unknown_document_version_is_refused() -> None:
    error = config_error(json.dumps({"version": 2, "bindings": []}))

    assert "invalid bindings: version: " in error.message


def test_pool_settings_take_their_documented_defaults() -> None:
    web = document(BY_ID).bindings[0].pools[0]
    gate = document(BY_ID).bindings[0].health_gate

    assert (web.weight, web.drain_seconds, web.subnet_cidr_id, web.lb_algorithm) == (
        1,
        30,
        None,
        "ROUND_ROBIN",
    )
    assert (gate.timeout_seconds, gate.on_failure, gate.max_extends) == (600, "ABANDON", 3)


def test_a_pool_is_found_by_id_across_bindings() -> None:
    doc = document(BY_ID, ELSEWHERE)

    found = doc.pool(POOL_DNS)

    assert found is not None
    assert found.protocol_port == 53
    assert doc.pool("no-such-pool") is None


def test_the_first_binding_entry_for_a_pool_wins() -> None:
    doc = document(BY_NAME, BY_ID)

    found = doc.pool(POOL_WEB)

    assert found is not None
    assert found.protocol_port == 8081


def test_a_source_ip_pool_ignores_weights_so_it_cannot_drain_by_weight() -> None:
    doc = document(BY_ID, ELSEWHERE)
    dns, web = doc.pool(POOL_DNS), doc.pool(POOL_WEB)

    assert dns is not None
    assert web is not None
    assert not dns.honours_weights
    assert web.honours_weights


def test_writes_are_serialised_per_load_balancer_or_per_pool_when_it_is_unknown() -> None:
    doc = document(BY_ID)
    web, api = doc.pool(POOL_WEB), doc.pool(POOL_API)

    assert web is not None
    assert api is not None
    assert web.serialisation_key == LB_WEB
    assert api.serialisation_key == f"pool:{POOL_API}"


def test_a_name_match_never_picks_a_binding_pinned_to_another_group() -> None:
    from elbsync.errors import InputError
    from elbsync.inbound.bindings import BindingDocument
    from elbsync.inbound.lifecycle import LifecycleNotification

    document = BindingDocument.model_validate(
        {
            "bindings": [
                {
                    "name": "pinned",
                    "scaling_group_id": "group-a",
                    "scaling_group_name": "web",
                    "pools": [{"pool_id": "p1", "protocol_port": 80}],
                }
            ]
        }
    )
    note = LifecycleNotification.model_validate(
        {
            "service": "AutoScaling",
            "lifecycle_hook_type": "INSTANCE_LAUNCHING",
            "lifecycle_hook_name": "hook",
            "lifecycle_action_key": "key",
            "scaling_instance": {"instance_id": "i-1"},
            "scaling_group": {"scaling_group_id": "group-b", "scaling_group_name": "web"},
            "notification_metadata": "elbsync",
        }
    )

    with pytest.raises(InputError, match="no binding for scaling group group-b"):
        document.for_notification(note)
