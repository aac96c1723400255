"""Envelope unwrapping: SMN records, EventGrid lists and bare CloudEvents become Inbound items."""

from __future__ import annotations

import json

import pytest
from elbsync.errors import InputError
from elbsync.inbound.envelopes import LIFECYCLE_EVENT_TYPE as EVENT_TYPE
from elbsync.inbound.envelopes import Inbound, Rejected, unwrap
from elbsync.inbound.lifecycle import LifecycleNotification

from tests.events import load_event

LIFECYCLE = EVENT_TYPE
REGISTER = "elbsync.members.register"
DEREGISTER = "elbsync.members.deregister"
WEIGHTS = "elbsync.members.weights"
DESIRED = "elbsync.pool.desired"
CE = "0b7e8a52-3a4c-4c0e-9f55-3f1a8d2b6e"  # the sample CloudEvent ids differ in the last two digits

UNWRAPPED = [
    pytest.param(
        "member_events/smn_launching",
        [("f3a8474793694807b065abf3bee52a95", LIFECYCLE, "smn", "record[0].smn.message")],
        id="smn-launching",
    ),
    pytest.param(
        "member_events/smn_terminating",
        [("b8352dc070a241c691f62b0e71c76b31", LIFECYCLE, "smn", "record[0].smn.message")],
        id="smn-terminating",
    ),
    pytest.param(
        "member_events/smn_two_records",
        [
            ("12733c7520c245a8a2e4ab0e383b27cf", LIFECYCLE, "smn", "record[0].smn.message"),
            ("db76add100ea4d768b551f01708d2d35", LIFECYCLE, "smn", "record[1].smn.message"),
        ],
        id="smn-two-records",
    ),
    pytest.param(
        "member_events/smn_extra_fields",
        [("5d0a6f1e2c3b4a5987766554433221a0", LIFECYCLE, "smn", "record[0].smn.message")],
        id="smn-extra-fields",
    ),
    pytest.param(
        "member_events/eventgrid_register",
        [(f"{CE}01", REGISTER, "eventgrid", "events[0].data")],
        id="eventgrid-register",
    ),
    pytest.param(
        "member_events/cloudevent_register",
        [(f"{CE}02", REGISTER, "direct", "data")],
        id="bare-register",
    ),
    pytest.param(
        "member_events/eventgrid_deregister",
        [(f"{CE}03", DEREGISTER, "eventgrid", "events[0].data")],
        id="eventgrid-deregister",
    ),
    pytest.param(
        "member_events/cloudevent_deregister",
        [(f"{CE}04", DEREGISTER, "direct", "data")],
        id="bare-deregister",
    ),
    pytest.param(
        "member_events/eventgrid_weights",
        [(f"{CE}05", WEIGHTS, "eventgrid", "events[0].data")],
        id="eventgrid-weights",
    ),
    pytest.param(
        "member_events/cloudevent_weights",
        [(f"{CE}06", WEIGHTS, "direct", "data")],
        id="bare-weights",
    ),
    pytest.param(
        "member_events/eventgrid_desired",
        [(f"{CE}07", DESIRED, "eventgrid", "events[0].data")],
        id="eventgrid-desired",
    ),
    pytest.param(
        "member_events/cloudevent_desired",
        [(f"{CE}08", DESIRED, "direct", "data")],
        id="bare-desired",
    ),
    pytest.param(
        "member_events/cloudevent_desired_dry_run",
        [(f"{CE}09", DESIRED, "direct", "data")],
        id="bare-desired-dry-run",
    ),
    pytest.param(
        "member_events/eventgrid_two_events",
        [
            (f"{CE}10", REGISTER, "eventgrid", "events[0].data"),
            (f"{CE}11", WEIGHTS, "eventgrid", "events[1].data"),
        ],
        id="eventgrid-two-events",
    ),
]


def inbound(name: str) -> list[Inbound]:
    items = unwrap(load_event(name))
    assert all(isinstance(item, Inbound) for item in items), items
    return [item for item in items if isinstance(item, Inbound)]


@pytest.mark.parametrize(("name", "expected"), UNWRAPPED)
def test_each_valid_sample_unwraps_to_its_events_in_order(
    name: str, expected: list[tuple[str, str, str, str]]
) -> None:
    got = [(item.event_id, item.type, item.source, item.at) for item in inbound(name)]

    assert got == expected


def test_an_smn_record_carries_the_decoded_lifecycle_notification() -> None:
    (item,) = inbound("member_events/smn_launching")

    note = LifecycleNotification.model_validate(item.data)
    assert note.launching
    assert note.scaling_instance.instance_id == "39a04849-f082-4aa9-8b4f-f3ab7a7bfb81"
    assert note.scaling_instance.instance_ip == "192.168.1.100"
    assert note.scaling_group.scaling_group_id == "b338afd6-b776-4568-a9ca-4bb956e78ec7"
    assert note.lifecycle_action_key == "24cee573-3201-42a1-8e5f-dc483f97b29e"


def test_a_terminating_notification_is_not_a_launch() -> None:
    (item,) = inbound("member_events/smn_terminating")

    note = LifecycleNotification.model_validate(item.data)
    assert not note.launching
    assert note.lifecycle_hook_name == "elbsync-terminate"
    assert note.scaling_instance.instance_ip == "192.168.1.11"


def test_several_smn_records_each_become_their_own_notification() -> None:
    items = inbound("member_events/smn_two_records")

    instances = [LifecycleNotification.model_validate(i.data).scaling_instance for i in items]
    assert [i.instance_ip for i in instances] == ["192.168.1.101", "192.168.1.102"]


def test_a_cloudevent_carries_its_data_unchanged() -> None:
    event = load_event("member_events/cloudevent_desired_dry_run")

    (item,) = inbound("member_events/cloudevent_desired_dry_run")

    assert item.data == event["data"]
    assert item.data["dry_run"] is True


def test_a_bare_cloudevent_from_a_cloud_service_counts_as_eventgrid() -> None:
    event = load_event("member_events/cloudevent_register")
    event["source"] = "HC.EG"

    (item,) = unwrap(event)

    assert isinstance(item, Inbound)
    assert item.source == "eventgrid"


def test_extra_fields_in_a_lifecycle_notification_are_accepted_and_kept() -> None:
    (item,) = inbound("member_events/smn_extra_fields")

    note = LifecycleNotification.model_validate(item.data)
    assert item.data["lifecycle_action_timeout"] == 600
    assert note.model_extra == {
        "lifecycle_action_timeout": 600,
        "default_result": "ABANDON",
        "region_id": "emu-region-1",
        "timestamp": "2026-11-23T11:55:00Z",
    }
    assert note.scaling_instance.model_extra == {
        "instance_type": "c7.large.2",
        "availability_zone": "emu-region-1a",
    }
    assert note.scaling_group.model_extra == {"scaling_group_status": "INSERVICE"}


MALFORMED = [
    pytest.param(
        "member_events/malformed_smn_bad_json",
        "record[0]",
        "record[0].smn.message",
        "is not JSON",
        id="smn-message-not-json",
    ),
    pytest.param(
        "member_events/malformed_smn_missing_instance_id",
        "record[0]",
        "record[0].smn.message.scaling_instance.instance_id",
        "is required",
        id="smn-missing-instance-id",
    ),
    pytest.param(
        "member_events/malformed_cloudevent_unknown_type",
        "(event)",
        "type",
        "elbsync.members.deregister, elbsync.members.register, "
        "elbsync.members.weights, elbsync.pool.desired",
        id="unknown-cloudevent-type",
    ),
    pytest.param(
        "member_events/malformed_eventgrid_register_port_out_of_range",
        "events[0]",
        "events[0].data.members[1].protocol_port",
        "maximum of 65535",
        id="register-port-out-of-range",
    ),
    pytest.param(
        "member_events/malformed_cloudevent_weights_missing_weight",
        "(event)",
        "data.weights[0].weight",
        "is required",
        id="weights-missing-weight",
    ),
    pytest.param(
        "member_events/malformed_cloudevent_desired_unknown_field",
        "(event)",
        "data.dryrun",
        "is not a field",
        id="desired-unknown-field",
    ),
]


@pytest.mark.parametrize(("name", "at", "field", "says"), MALFORMED)
def test_a_malformed_event_is_rejected_naming_the_field(
    name: str, at: str, field: str, says: str
) -> None:
    (item,) = unwrap(load_event(name))

    assert isinstance(item, Rejected)
    assert item.at == at
    assert item.error.field == field
    assert says in item.error.message
    assert item.error.client_error


def test_one_bad_smn_record_does_not_stop_the_good_one() -> None:
    good, bad = unwrap(load_event("member_events/malformed_smn_one_bad_record"))

    assert isinstance(good, Inbound)
    assert good.event_id == "1a2b3c4d5e6f47108192a3b4c5d6e7f8"
    assert isinstance(bad, Rejected)
    assert bad.error.field == "record[1].smn.message.lifecycle_hook_type"
    assert "INSTANCE_SUSPENDING" in bad.error.message


def test_an_unknown_envelope_is_refused_naming_the_shapes_expected() -> None:
    with pytest.raises(InputError) as caught:
        unwrap(load_event("member_events/malformed_unknown_envelope"))

    message = caught.value.message
    assert '{"record": [...]}' in message
    assert '{"events": [...]}' in message
    assert '"specversion": "1.0"' in message


@pytest.mark.parametrize("event", [[], "text", None, 7], ids=["list", "string", "null", "number"])
def test_an_event_that_is_not_an_object_is_refused_naming_the_shapes_expected(
    event: object,
) -> None:
    with pytest.raises(InputError, match="SMN trigger event"):
        unwrap(event)


@pytest.mark.parametrize(
    ("key", "value"),
    [("record", []), ("record", {}), ("events", []), ("events", "x")],
    ids=["empty-records", "records-not-a-list", "empty-events", "events-not-a-list"],
)
def test_an_empty_or_non_list_envelope_is_refused_naming_the_list(key: str, value: object) -> None:
    with pytest.raises(InputError) as caught:
        unwrap({key: value})

    assert caught.value.field == key


def test_an_smn_record_without_a_message_id_is_rejected_naming_it() -> None:
    event = load_event("member_events/smn_launching")
    del event["record"][0]["smn"]["message_id"]

    (item,) = unwrap(event)

    assert isinstance(item, Rejected)
    assert item.error.field == "record[0].smn.message_id"


def test_an_smn_message_from_another_service_is_rejected() -> None:
    event = load_event("member_events/smn_launching")
    smn = event["record"][0]["smn"]
    smn["message"] = json.dumps({**json.loads(smn["message"]), "service": "ECS"})

    (item,) = unwrap(event)

    assert isinstance(item, Rejected)
    assert item.error.field == "record[0].smn.message"
    assert "AutoScaling" in item.error.message


def test_a_cloudevent_whose_data_is_not_an_object_is_rejected_naming_data() -> None:
    event = load_event("member_events/eventgrid_weights")
    event["events"][0]["data"] = "[]"

    (item,) = unwrap(event)

    assert isinstance(item, Rejected)
    assert item.error.field == "events[0].data"


def test_a_rejection_reply_names_the_field_without_a_stack_trace() -> None:
    (item,) = unwrap(load_event("member_events/malformed_smn_missing_instance_id"))

    assert isinstance(item, Rejected)
    assert item.error.to_dict() == {
        "code": "invalid_input",
        "message": "record[0].smn.message.scaling_instance.instance_id: is required",
        "field": "record[0].smn.message.scaling_instance.instance_id",
    }


# --- identity --------------------------------------------------------------------------------


def identities(name: str) -> list[tuple[str, str]]:
    return [item.identity for item in unwrap(load_event(name)) if isinstance(item, Inbound)]


def test_a_cloudevent_is_named_by_its_source_and_id_whatever_carries_it() -> None:
    bare = identities("member_events/cloudevent_register")
    wrapped = identities("member_events/eventgrid_wraps_cloudevent_register")
    elsewhere = identities("member_events/cloudevent_register_same_id_other_source")

    assert bare == wrapped == [("cloudevent:deploy-pipeline/web-release", f"{CE}02")]
    assert elsewhere == [("cloudevent:deploy-pipeline/static-hotfix", f"{CE}02")]


def test_a_cloud_service_source_does_not_change_a_cloudevents_identity() -> None:
    event = load_event("member_events/cloudevent_register")
    event["source"] = "HC.EG"

    (bare,) = unwrap(event)
    (wrapped,) = unwrap({"events": [event]})

    assert isinstance(bare, Inbound)
    assert isinstance(wrapped, Inbound)
    assert bare.identity == wrapped.identity == ("cloudevent:HC.EG", f"{CE}02")


def test_an_smn_record_is_named_by_its_message_id() -> None:
    assert identities("member_events/smn_two_records") == [
        ("smn", "12733c7520c245a8a2e4ab0e383b27cf"),
        ("smn", "db76add100ea4d768b551f01708d2d35"),
    ]


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("member_events/smn_two_records", ["record[0].smn.message_id", "record[1].smn.message_id"]),
        ("member_events/eventgrid_two_events", ["events[0].id", "events[1].id"]),
        ("member_events/cloudevent_register", ["id"]),
    ],
)
def test_each_event_knows_where_its_id_is(name: str, fields: list[str]) -> None:
    items = [item for item in unwrap(load_event(name)) if isinstance(item, Inbound)]

    assert [item.id_field for item in items] == fields


# --- fields elbsync does not read ------------------------------------------------------------

ANY_VALUES = [None, 0, -1.5, True, "", "text", [], [1, "a"], {}, {"nested": {"deep": [None]}}]


@pytest.mark.parametrize("value", ANY_VALUES, ids=repr)
@pytest.mark.parametrize(
    "where",
    [
        ("record", "event_version"),
        ("record", "event_source"),
        ("record", "event_subscription_urn"),
        ("smn", "message_attributes"),
        ("smn", "topic_urn"),
        ("smn", "timestamp"),
        ("smn", "type"),
        ("smn", "subject"),
        ("message", "tenant_id"),
        ("scaling_instance", "instance_name"),
        ("scaling_group", "scaling_config_id"),
        ("scaling_group", "scaling_config_name"),
        ("message", "an_extension"),
    ],
    ids="-".join,
)
def test_an_smn_field_elbsync_does_not_read_may_hold_any_value(
    where: tuple[str, str], value: object
) -> None:
    event = load_event("member_events/smn_launching")
    record = event["record"][0]
    message = json.loads(record["smn"]["message"])
    place, name = where
    target = {
        "record": record,
        "smn": record["smn"],
        "message": message,
        "scaling_instance": message["scaling_instance"],
        "scaling_group": message["scaling_group"],
    }[place]
    target[name] = value
    record["smn"]["message"] = json.dumps(message)

    (item,) = unwrap(event)

    assert isinstance(item, Inbound), item
    LifecycleNotification.model_validate(item.data)


@pytest.mark.parametrize("value", ANY_VALUES, ids=repr)
@pytest.mark.parametrize(
    "name", ["subject", "time", "dataschema", "datacontenttype", "traceparent", "partitionkey"]
)
def test_a_cloudevent_attribute_elbsync_does_not_read_may_hold_any_value(
    name: str, value: object
) -> None:
    event = load_event("member_events/cloudevent_register")
    event[name] = value

    (bare,) = unwrap(event)
    (wrapped,) = unwrap({"events": [event]})

    assert isinstance(bare, Inbound)
    assert isinstance(wrapped, Inbound)


def test_the_unread_fields_samples_are_accepted() -> None:
    (smn,) = unwrap(load_event("member_events/smn_unread_fields_any_type"))
    (cloudevent,) = unwrap(load_event("member_events/cloudevent_extensions"))

    assert isinstance(smn, Inbound)
    assert isinstance(cloudevent, Inbound)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": 7}, "id"),
        ({"source": ["a"]}, "source"),
        ({"specversion": "0.3"}, "specversion"),
        ({"data": "text"}, "data"),
    ],
)
def test_the_attributes_elbsync_reads_are_still_checked(
    change: dict[str, object], field: str
) -> None:
    event = {**load_event("member_events/cloudevent_register"), **change}

    (item,) = unwrap(event)

    assert isinstance(item, Rejected)
    assert item.error.field == field
