"""The runtime package's public surface is pinned: every module says what it offers in
``__all__``, code imports only that from another module, and a change of the surface is a
decision (``public_surface.json`` is rewritten by running this file:
``.venv/bin/python tests/unit/test_public_surface.py --write``)."""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import sys
from pathlib import Path

import elbsync
import pytest

REPO = Path(__file__).resolve().parents[2]
PINNED = Path(__file__).with_name("public_surface.json")
CODE = [REPO / "shared" / "elbsync", REPO / "functions"]


def modules() -> list[str]:
    found = ["elbsync"]
    for info in pkgutil.walk_packages(elbsync.__path__, prefix="elbsync."):
        found.append(info.name)
    return sorted(found)


def surface() -> dict[str, list[str]]:
    """Each module's ``__all__`` (a package without one offers its submodules only)."""
    offered: dict[str, list[str]] = {}
    for name in modules():
        module = importlib.import_module(name)
        names = getattr(module, "__all__", None)
        if names is not None:
            offered[name] = sorted(names)
    return offered


def is_submodule(package: str, name: str) -> bool:
    return _is_package(package) and importlib.util.find_spec(f"{package}.{name}") is not None


def _is_package(name: str) -> bool:
    return hasattr(importlib.import_module(name), "__path__")


def imports_between_modules() -> list[tuple[str, int, str, str]]:
    """``(file, line, module, name)`` for every ``from elbsync... import name`` in the code."""
    found = []
    for root in CODE:
        for path in sorted(root.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.ImportFrom)
                    and node.level == 0
                    and (node.module or "").split(".")[0] == "elbsync"
                ):
                    where = str(path.relative_to(REPO))
                    found += [(where, node.lineno, str(node.module), a.name) for a in node.names]
    return found


def test_every_module_of_the_package_says_what_it_offers() -> None:
    plain = [
        name
        for name in modules()
        if not _is_package(name) and not hasattr(importlib.import_module(name), "__all__")
    ]
    assert plain == []


def test_code_imports_from_another_module_only_what_it_offers() -> None:
    offered = surface()
    outside = [
        f"{where}:{line}: {module}.{name}"
        for where, line, module, name in imports_between_modules()
        if name not in offered.get(module, []) and not is_submodule(module, name)
    ]
    assert outside == []


def test_the_public_surface_changes_only_on_purpose() -> None:
    pinned = json.loads(PINNED.read_text(encoding="utf-8"))
    current = surface()
    changed = {
        module: {
            "added": sorted(set(current.get(module, [])) - set(pinned.get(module, []))),
            "removed": sorted(set(pinned.get(module, [])) - set(current.get(module, []))),
        }
        for module in sorted(set(pinned) | set(current))
        if pinned.get(module) != current.get(module)
    }
    if changed:
        pytest.fail(
            "the public surface changed; if that is intended, run "
            f"`.venv/bin/python tests/unit/test_public_surface.py --write`:\n"
            f"{json.dumps(changed, indent=2)}"
        )


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: test_public_surface.py --write")
    PINNED.write_text(json.dumps(surface(), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {PINNED.relative_to(REPO)}")
