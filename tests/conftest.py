"""Shared pytest setup. Fixture modules live in tests/fixtures/ and are registered here."""

pytest_plugins: list[str] = [
    # One line per fixture module, e.g. "tests.fixtures.emulator".
    "tests.fixtures.emulator",
    "tests.fixtures.objectstore",
]
