"""The schema against real Cassandra 5: versioned apply, CDC on pages, a CQL round trip."""

import shutil
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from shared.storage.schema import SchemaError, apply_schema, applied_versions, load_migrations, schema_dir

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def applied(schema_applied):
    return schema_applied


def test_first_apply_runs_every_migration_and_second_is_a_no_op(cassandra_session, stack_settings, applied):
    assert [m.version for m in applied.applied] == [m.version for m in load_migrations()]
    again = apply_schema(cassandra_session, stack_settings)
    assert not again.changed
    assert again.already_applied == tuple(m.version for m in load_migrations())


@pytest.fixture
def own_keyspace(cassandra_session, stack_settings):
    """A keyspace for tests that leave it in a state other tests must not see."""
    settings = replace(stack_settings, cassandra_keyspace=f"{stack_settings.cassandra_keyspace}_m")
    yield settings
    cassandra_session.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}")


def test_a_later_migration_applies_only_what_is_new(cassandra_session, own_keyspace, tmp_path: Path):
    assert apply_schema(cassandra_session, own_keyspace).changed
    shutil.copytree(schema_dir(), tmp_path / "schema")
    (tmp_path / "schema" / "migrations" / "0999_test_extra.cql").write_text(
        "CREATE TABLE IF NOT EXISTS test_extra (id INT PRIMARY KEY, note TEXT);")
    report = apply_schema(cassandra_session, own_keyspace, tmp_path / "schema")
    assert [m.version for m in report.applied] == [999]
    assert 999 in applied_versions(cassandra_session, own_keyspace.cassandra_keyspace)

    (tmp_path / "schema" / "migrations" / "0999_test_extra.cql").write_text(
        "CREATE TABLE IF NOT EXISTS test_extra (id INT PRIMARY KEY, note TEXT, more TEXT);")
    with pytest.raises(SchemaError, match="changed after it was applied"):
        apply_schema(cassandra_session, own_keyspace, tmp_path / "schema")
    with pytest.raises(SchemaError, match=r"migrations \[999\] that this code does not know"):
        apply_schema(cassandra_session, own_keyspace)


def test_pages_has_cdc_and_vectors_are_384_floats(cassandra_session, stack_settings, applied):
    ks = stack_settings.cassandra_keyspace
    row = cassandra_session.execute(
        "SELECT cdc FROM system_schema.tables WHERE keyspace_name=%s AND table_name='pages'", (ks,)).one()
    assert row.cdc is True
    column = cassandra_session.execute(
        "SELECT type FROM system_schema.columns WHERE keyspace_name=%s AND table_name='page_vectors' "
        "AND column_name='embedding'", (ks,)).one()
    assert column.type == "vector<float, 384>"


def test_pages_cql_round_trip(cassandra_session, stack_settings, applied):
    ks = stack_settings.cassandra_keyspace
    created = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)
    insert = cassandra_session.prepare(
        f"INSERT INTO {ks}.pages (page_id, char_hex, behavior, symbol_code, section, page_num, title, orientation,"
        " provenance, trajectory, text, created_at, author, version) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
    cassandra_session.execute(insert, ("S03-P0079", 2, 0, 32, 3, 79, "A title", "X", "C", "T0",
                                       "Glyph Marrow reads the page — ünïcode intact.", created, "canon", "1"))
    row = cassandra_session.execute(f"SELECT * FROM {ks}.pages WHERE page_id=%s", ("S03-P0079",)).one()
    assert (row.symbol_code, row.section, row.page_num, row.orientation) == (32, 3, 79, "X")
    assert row.text == "Glyph Marrow reads the page — ünïcode intact."
    assert row.created_at.replace(tzinfo=timezone.utc) == created

    vector = [float(i) / 384 for i in range(384)]
    cassandra_session.execute(f"INSERT INTO {ks}.page_vectors (page_id, embedding) VALUES (%s, %s)",
                              ("S03-P0079", vector))
    stored = cassandra_session.execute(f"SELECT embedding FROM {ks}.page_vectors WHERE page_id='S03-P0079'").one()
    assert stored.embedding == pytest.approx(vector, rel=1e-6)
