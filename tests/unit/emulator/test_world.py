"""The world file: published schema, default world, and errors that name the bad field."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from elbsync.devkit.emulator import default_world_path, load_world, world_schema
from elbsync.errors import ConfigError

from tests.fixtures.emulator import default_world_document

SCHEMA_PATH = default_world_path().with_name("world.schema.json")


def test_the_published_schema_matches_the_world_models() -> None:
    published = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert published == world_schema(), (
        "world.schema.json is stale; regenerate it with: .venv/bin/python -c "
        '"import json; from elbsync.devkit.emulator import world_schema; '
        'print(json.dumps(world_schema(), indent=2))" > ' + str(SCHEMA_PATH)
    )


def test_the_default_world_is_valid_against_the_published_schema() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.validate(default_world_document(), schema)


def test_the_default_world_loads_with_its_documented_ids() -> None:
    world = load_world()
    assert world.credentials[0].project_id == "0a1b2c3d4e5f40718293a4b5c6d7e8f9"
    assert world.credentials[0].access_key == "EMUAKDEFAULT00000001"
    assert [lb.name for lb in world.load_balancers] == ["lb-web", "lb-dns"]
    assert [s.name for s in world.scaling_groups] == ["asg-web"]


def _write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "world.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_a_schema_violation_names_the_field(tmp_path: Path) -> None:
    document = default_world_document()
    document["behaviour"]["member_quota"] = "many"
    with pytest.raises(ConfigError, match="behaviour/member_quota"):
        load_world(_write(tmp_path, document))


def test_a_dangling_reference_is_refused(tmp_path: Path) -> None:
    document = default_world_document()
    document["load_balancers"][0]["listeners"][0]["default_pool_id"] = "no-such-pool"
    with pytest.raises(ConfigError, match="no-such-pool"):
        load_world(_write(tmp_path, document))


def test_a_duplicate_id_is_refused(tmp_path: Path) -> None:
    document = default_world_document()
    document["servers"][1]["id"] = document["servers"][0]["id"]
    with pytest.raises(ConfigError, match="duplicate server id"):
        load_world(_write(tmp_path, document))


def test_a_server_address_outside_its_subnet_is_refused(tmp_path: Path) -> None:
    document = default_world_document()
    document["servers"][0]["interfaces"][0]["ip_address"] = "10.0.0.1"
    with pytest.raises(ConfigError, match="is not in subnet"):
        load_world(_write(tmp_path, document))


def test_a_missing_or_malformed_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_world(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    with pytest.raises(ConfigError, match="not JSON"):
        load_world(broken)


def test_docs_emulator_md_lists_every_id_and_credential_of_the_default_world() -> None:
    docs = (Path(__file__).parents[3] / "docs" / "emulator.md").read_text(encoding="utf-8")
    world = load_world()
    wanted = [c.access_key for c in world.credentials] + [c.secret_key for c in world.credentials]
    wanted += [c.project_id for c in world.credentials] + [t.token for t in world.iam_tokens]
    wanted += [s.id for s in world.subnets] + [g.id for g in world.security_groups]
    wanted += [a.id for a in world.network_acls] + [s.id for s in world.servers]
    wanted += [g.id for g in world.scaling_groups]
    for lb in world.load_balancers:
        wanted += [lb.id] + [li.id for li in lb.listeners] + [p.id for p in lb.pools]
        wanted += [m.id for p in lb.pools for m in p.members]
    missing = [value for value in wanted if value not in docs]
    assert missing == []
