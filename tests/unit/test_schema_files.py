from pathlib import Path

import pytest

from shared.config import Settings
from shared.storage.schema import SchemaError, keyspace_statements, load_migrations, split_statements


def test_migrations_load_in_order_with_stable_checksums():
    migrations = load_migrations()
    assert [m.version for m in migrations] == sorted(m.version for m in migrations)
    assert migrations[0].version == 1
    assert load_migrations() == migrations


def test_every_table_the_issue_names_is_created():
    created = " ".join(s for m in load_migrations() for s in m.statements)
    for table in ["pages", "page_edges", "page_index_signals", "section_counters", "events_log",
                  "state_snapshots", "pages_index", "vault", "page_vectors", "summaries", "characters", "ledger"]:
        assert f"CREATE TABLE IF NOT EXISTS {table} (" in created, table
    assert "VECTOR<FLOAT, 384>" in created
    pages = next(s for m in load_migrations() for s in m.statements if "TABLE IF NOT EXISTS pages (" in s)
    assert pages.endswith("WITH cdc = true")


def test_every_statement_is_idempotent():
    for migration in load_migrations():
        for statement in migration.statements:
            assert "IF NOT EXISTS" in statement, statement


def test_keyspace_takes_name_and_replication_from_settings():
    statements = keyspace_statements(Settings(cassandra_keyspace="gibsey_x", cassandra_replication_factor=3))
    assert statements[0].startswith("CREATE KEYSPACE IF NOT EXISTS gibsey_x")
    assert "'replication_factor': 3" in statements[0]
    assert "gibsey_x.schema_version" in statements[1]


def test_split_drops_comments_and_blank_statements():
    assert split_statements("-- a; comment\nCREATE TABLE a (x int);\n\n  ;SELECT 1 -- trailing;\n") == (
        "CREATE TABLE a (x int)", "SELECT 1")


def test_badly_named_or_duplicate_migrations_are_refused(tmp_path: Path):
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "1_first.cql").write_text("CREATE TABLE IF NOT EXISTS a (x int PRIMARY KEY);")
    with pytest.raises(SchemaError, match="NNNN_lower_snake"):
        load_migrations(tmp_path)
    (tmp_path / "migrations" / "1_first.cql").unlink()
    (tmp_path / "migrations" / "0001_a.cql").write_text("CREATE TABLE IF NOT EXISTS a (x int PRIMARY KEY);")
    (tmp_path / "migrations" / "0001_b.cql").write_text("CREATE TABLE IF NOT EXISTS b (x int PRIMARY KEY);")
    with pytest.raises(SchemaError, match="used twice"):
        load_migrations(tmp_path)
