"""The canon (710 pages) in real Cassandra as a closed ring, read back through the gateway."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import falcon
import falcon.testing
import pytest

from gateway.app import create_app
from shared.canon import load_corpus
from shared.canon.ingest import IngestConflict, ingest
from tests.corpus_builder import page_entries, write_corpus
from tests.env import child_env

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CANON = REPO.parent / "shared" / "gibsey-canon" / "corpus"
needs_canon = pytest.mark.skipif(
    not CANON.is_dir(), reason=f"the canon is not at {CANON} (it is reference data beside the repo, never committed)")


@pytest.fixture(scope="module")
def keyspaces(module_schema_keyspace):
    """Fresh keyspaces with the schema applied, dropped at the end of the module."""
    return module_schema_keyspace


@pytest.fixture(scope="module")
def canon(cassandra_session, keyspaces):
    settings = keyspaces("canon")
    corpus = load_corpus(CANON)
    first = ingest(cassandra_session, settings.cassandra_keyspace, corpus)
    return settings, corpus, first


def _count(session, keyspace, table):
    return session.execute(f"SELECT count(*) FROM {keyspace}.{table}").one()[0]


@needs_canon
def test_ingest_writes_710_pages_and_16_characters(cassandra_session, canon):
    settings, corpus, first = canon
    assert (first.pages_total, first.pages_written, first.characters_written) == (710, 710, 16)
    ks = settings.cassandra_keyspace
    assert _count(cassandra_session, ks, "pages") == 710
    assert _count(cassandra_session, ks, "page_numbers") == 710
    assert _count(cassandra_session, ks, "pages_index") == 710
    assert _count(cassandra_session, ks, "characters") == 16
    assert first.notes_written == len(corpus.section_notes) > 16 * 5
    sections = {row.section for row in cassandra_session.execute(f"SELECT section FROM {ks}.section_notes")}
    assert sections == set(range(1, 17))


@needs_canon
def test_every_page_has_exactly_one_next_edge_and_the_ring_closes(cassandra_session, canon):
    settings, corpus, _ = canon
    ks = settings.cassandra_keyspace
    next_of: dict[str, list[str]] = {}
    for row in cassandra_session.execute(f"SELECT page_id, edge_type, target_id FROM {ks}.page_edges"):
        assert row.edge_type == "NEXT"
        next_of.setdefault(row.page_id, []).append(row.target_id)
    assert len(next_of) == 710
    assert all(len(targets) == 1 for targets in next_of.values())

    start = "S01-P0001"
    visited, here = [], start
    for _ in range(710):
        visited.append(here)
        here = next_of[here][0]
    assert here == start
    assert len(set(visited)) == 710
    assert visited[-1] == "S16-P0710"


@needs_canon
def test_every_normalisation_rule_is_exercised_and_stored(cassandra_session, canon):
    settings, corpus, _ = canon
    rules = {n.rule for n in corpus.normalisations}
    assert {"section-from-neighbours", "page-index-ignored", "colour-from-symbols", "character-alias",
            "profile-ignored"} <= rules
    ks = settings.cassandra_keyspace
    moved = cassandra_session.execute(f"SELECT page_id, section, page_num FROM {ks}.pages WHERE page_id = 'S03-P0162'").one()
    assert (moved.section, moved.page_num) == (3, 162)
    row = cassandra_session.execute(f"SELECT symbol_code, orientation, provenance, trajectory FROM {ks}.pages "
                                    "WHERE page_id = 'S16-P0710'").one()
    assert tuple(row) == (0xF0, "X", "C", "T0")
    london = cassandra_session.execute(f"SELECT colour, system_prompt FROM {ks}.characters "
                                       "WHERE character_id = 'london-fox'").one()
    assert london.colour == "#FF3B3B"
    assert london.system_prompt == (CANON / "characters" / "london-fox" / "first_principles.md").read_text().strip()


@needs_canon
def test_a_second_ingest_writes_nothing_and_says_so(cassandra_session, canon):
    settings, corpus, _ = canon
    again = ingest(cassandra_session, settings.cassandra_keyspace, load_corpus(CANON))
    assert not again.changed
    cli = subprocess.run([sys.executable, "-m", "shared.cli", "ingest", str(CANON)], cwd=REPO, capture_output=True,
                         text=True, env=child_env(settings), timeout=300)
    assert cli.returncode == 0, cli.stderr
    assert "nothing to write: all 710 pages and 16 characters" in cli.stdout


@needs_canon
def test_gateway_serves_page_42_exactly_as_its_file(canon):
    settings, corpus, _ = canon
    client = falcon.testing.TestClient(create_app(settings, health_checks=()))
    resp = client.get("/pages/42")
    assert resp.status == falcon.HTTP_200
    entry = next(e for e in json.loads((CANON / "metadata" / "pages.json").read_text()) if int(e["id"]) == 42)
    assert resp.json["text"] == (CANON / "pages" / entry["filename"]).read_text(encoding="utf-8")
    assert resp.json["page_number"] == 42 and resp.json["max_page_number"] == 710
    assert resp.json["page_id"] == "S03-P0042" and resp.json["character"] == "glyph-marrow"

    last = client.get("/api/v1/page/S16-P0710").json
    assert last["edges"] == {"next": "S01-P0001", "loop_back_to": None, "forks": [], "mirrors": []}
    assert last["symbol_code"] == 240 and last["index_signals"] == {}
    assert client.get("/pages/711").status == falcon.HTTP_404
    assert client.get("/api/v1/page/S01-P0042").status == falcon.HTTP_404  # page 42 is in section 3, not 1


# -- bad corpora: a clear message naming each offending file, non-zero exit, nothing written ----------------


def _break_missing_page(root, entries):
    (root / "pages" / entries[5]["filename"]).unlink()
    return entries[5]["filename"]


def _break_json(root, entries):
    (root / "metadata" / "pages.json").write_text('[{"id": "001", "symbolId": ')
    return "metadata/pages.json: unreadable JSON"


def _break_duplicate(root, entries):
    doubled = entries + [{**entries[7], "filename": "033-duplicate.md"}]
    (root / "metadata" / "pages.json").write_text(json.dumps(doubled))
    (root / "pages" / "033-duplicate.md").write_text("a second page 8")
    return "033-duplicate.md"


def _break_empty_page(root, entries):
    (root / "pages" / entries[9]["filename"]).write_text("\n \n")
    return f"pages/{entries[9]['filename']}: empty page"


@pytest.mark.parametrize("breaker", [_break_missing_page, _break_json, _break_duplicate, _break_empty_page],
                         ids=["missing-page", "unreadable-json", "duplicate-id", "empty-page"])
def test_bad_corpus_is_refused_and_nothing_is_written(cassandra_session, keyspaces, tmp_path, breaker):
    settings = keyspaces(f"bad_{uuid.uuid4().hex[:6]}")
    entries = page_entries()
    root = write_corpus(tmp_path / "corpus", entries)
    named = breaker(root, entries)
    cli = subprocess.run([sys.executable, "-m", "shared.cli", "ingest", str(root)], cwd=REPO, capture_output=True,
                         text=True, env=child_env(settings), timeout=120)
    assert cli.returncode == 1
    assert named in cli.stderr
    for table in ("pages", "page_edges", "page_numbers", "pages_index", "characters"):
        assert _count(cassandra_session, settings.cassandra_keyspace, table) == 0, table


def test_a_smaller_corpus_does_not_silently_truncate_the_book(cassandra_session, keyspaces, tmp_path):
    settings = keyspaces("shrink")
    ks = settings.cassandra_keyspace
    ingest(cassandra_session, ks, load_corpus(write_corpus(tmp_path / "big", page_entries(per_character=2))))
    small = load_corpus(write_corpus(tmp_path / "small", page_entries(per_character=1)))
    with pytest.raises(IngestConflict, match="holds 31 canon page"):  # page 1 keeps its id
        ingest(cassandra_session, ks, small)
    assert _count(cassandra_session, ks, "pages") == 32

    report = ingest(cassandra_session, ks, small, replace=True)
    assert report.stale_removed == 31 and report.pages_written == 16
    assert _count(cassandra_session, ks, "pages") == 16
    assert _count(cassandra_session, ks, "page_numbers") == 16
    assert _count(cassandra_session, ks, "pages_index") == 16
    last = cassandra_session.execute(f"SELECT target_id FROM {ks}.page_edges WHERE page_id = 'S16-P0016'").all()
    assert [r.target_id for r in last] == ["S01-P0001"]


def test_a_changed_page_is_rewritten_alone_and_keeps_its_created_at(cassandra_session, keyspaces, tmp_path):
    settings = keyspaces("edit")
    ks = settings.cassandra_keyspace
    entries = page_entries(per_character=1)
    root = write_corpus(tmp_path / "book", entries)
    ingest(cassandra_session, ks, load_corpus(root))
    before = cassandra_session.execute(f"SELECT created_at, version FROM {ks}.pages WHERE page_id='S05-P0005'").one()
    (root / "pages" / entries[4]["filename"]).write_text("Jacklyn rewrites her report.")
    report = ingest(cassandra_session, ks, load_corpus(root))
    assert (report.pages_written, report.characters_written) == (1, 0)
    after = cassandra_session.execute(f"SELECT created_at, version, text FROM {ks}.pages WHERE page_id='S05-P0005'").one()
    assert after.text == "Jacklyn rewrites her report."
    assert after.created_at == before.created_at and after.version != before.version
