"""The initial migration runs its SQL script statement by statement."""

from __future__ import annotations

import importlib


def test_migration_script_splits_on_top_level_semicolons_only() -> None:
    """Semicolons inside a $$ function body do not split the statement."""
    migration = importlib.import_module("migrations.versions.0001_initial")
    script = "CREATE TABLE a (x int);\nCREATE FUNCTION f() AS $$ BEGIN x; y; END $$;\nSELECT 1"
    assert migration.split_statements(script) == [
        "CREATE TABLE a (x int)",
        "CREATE FUNCTION f() AS $$ BEGIN x; y; END $$",
        "SELECT 1",
    ]
