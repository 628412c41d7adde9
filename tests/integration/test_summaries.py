"""Summary runs against Cassandra: a small embedded book, `gibsey summaries run`, the pointer's atomicity."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from shared.config import Settings

DEMO = Path(__file__).resolve().parents[2] / "corpus" / "demo"
CITATION = re.compile(r"\(p\.(\S+?)\)")


@pytest.fixture(scope="module")
def embedded(stack_settings: Settings, cassandra_session):
    """A keyspace of this module's own holding the demo corpus's quote vectors (24 pages)."""
    from shared.canon import load_corpus
    from shared.rag.embedding import Embedder
    from shared.rag.indexing import PageText, embed_pages
    from shared.storage.schema import apply_schema
    from shared.storage.vectors import VectorStore
    from shared.symbols import CHARACTERS

    settings = replace(stack_settings, cassandra_keyspace=stack_settings.cassandra_keyspace + "_sum")
    apply_schema(cassandra_session, settings)
    corpus = load_corpus(DEMO)
    hex_of = {c.id: code for code, c in enumerate(CHARACTERS)}
    pages = [PageText(p.page_id, p.section, p.number, hex_of[p.character.id], p.text) for p in corpus.pages]
    embed_pages(VectorStore(cassandra_session, settings.cassandra_keyspace), Embedder(), pages)
    yield settings
    cassandra_session.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}")


def _env(monkeypatch, settings: Settings, k: int) -> None:
    monkeypatch.setenv("CASSANDRA_HOSTS", ",".join(map(str, settings.cassandra_hosts)))
    monkeypatch.setenv("CASSANDRA_KEYSPACE", settings.cassandra_keyspace)
    monkeypatch.setenv("KAFKA_BROKERS", settings.kafka_bootstrap)
    monkeypatch.setenv("GIBSEY_TOPIC_PREFIX", settings.topic_prefix)
    monkeypatch.setenv("GIBSEY_SUMMARY_K", str(k))
    monkeypatch.setenv("GIBSEY_SUMMARY_LLM", "off")


def test_cli_run_writes_k_notes_naming_member_pages(embedded, cassandra_session, monkeypatch, capsys):
    from shared.cli import main
    from shared.summaries.store import SummaryStore

    _env(monkeypatch, embedded, k=4)
    store = SummaryStore(cassandra_session, embedded.cassandra_keyspace)
    assert main(["summaries", "run", "--dry-run"]) == 0
    assert "would write run" in capsys.readouterr().out and store.pointer().run_id is None

    assert main(["summaries", "run"]) == 0
    pointer, rows = store.latest()
    assert pointer.clusters == 4 and len(rows) == 4 and pointer.pages == 24
    assert sorted(p for r in rows for p in r.member_pages) == sorted({p for r in rows for p in r.member_pages})
    for r in rows:
        assert 200 <= r.words <= 300, r.summary
        cited = set(CITATION.findall(r.summary))
        assert cited and cited <= {label[2:] for label in r.page_labels}
        assert store.cluster_of_page(r.member_pages[-1])["cluster_id"] == r.cluster_id
    assert store.cluster(rows[0].cluster_id) == rows[0]

    assert main(["summaries", "run"]) == 0  # same book, same day: the same run, not rewritten
    assert "already complete" in capsys.readouterr().out and store.pointer().run_id == pointer.run_id


def test_readers_see_the_previous_run_until_the_new_one_is_published(embedded, cassandra_session):
    from shared.summaries.run import run_recorded, summarise
    from shared.summaries.settings import SummarySettings
    from shared.summaries.store import SummaryStore

    store = SummaryStore(cassandra_session, embedded.cassandra_keyspace)
    before = summarise(store, SummarySettings(k=3), run_id="it-before")
    published = store.publish

    def crash(*args, **kwargs):  # rows written, then the run dies before the pointer flips
        raise RuntimeError("killed before publishing")

    store.publish = crash
    with pytest.raises(RuntimeError):
        run_recorded(store, SummarySettings(k=5), run_id="it-crashed")
    store.publish = published
    pointer, rows = store.latest()
    assert pointer.run_id == before.run_id and len(rows) == 3
    assert pointer.last_failed_run == "it-crashed" and "killed" in pointer.last_error
    assert store.cluster_of_page(rows[0].member_pages[0])["run_id"] == "it-before"

    after = summarise(store, SummarySettings(k=5), run_id="it-crashed")  # idempotent per run_id: finishes it
    pointer, rows = store.latest()
    assert pointer.run_id == after.run_id == "it-crashed" and len(rows) == 5
    assert pointer.previous_run_id == "it-before"
