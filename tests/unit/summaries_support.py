"""Books of quote vectors (a synthetic one of three topics, the shipped demo corpus) and an in-memory
SummaryStore for the summary tests."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from shared.canon import load_corpus
from shared.rag.lexical import tokens
from shared.rag.quotes import page_label, split_quotes
from shared.summaries.model import ClusterSummary, QuoteUnit
from shared.summaries.errors import RunIncomplete
from shared.summaries.store import EMPTY_POINTER, RunPointer

TOPICS = {
    "sea": "tide harbour salt gulls lighthouse keeper rope boat storm sailors ferry anchor".split(),
    "city": "tower elevator lobby neon subway traffic concrete office windows crowd taxi rooftop".split(),
    "forest": "moss pines owl clearing fern roots lantern path cabin deer bark river".split(),
}


def synthetic_quotes(pages_per_topic: int = 10, quotes_per_page: int = 6, seed: int = 1) -> list[QuoteUnit]:
    rng = np.random.default_rng(seed)
    centres = {t: rng.normal(size=384) for t in TOPICS}
    quotes = []
    number = 0
    for topic, words in TOPICS.items():
        for _ in range(pages_per_topic):
            number += 1
            for k in range(quotes_per_page):
                text = " ".join(rng.choice(words, size=14)) + f" and the {topic} went on quietly."
                v = centres[topic] + rng.normal(scale=0.3, size=384)
                quotes.append(QuoteUnit(f"S01-P{number:04d}", number, 1, "london-fox", f"p{number}-{k + 1}",
                                        text.capitalize(), (v / np.linalg.norm(v)).astype(np.float32)))
    return quotes


class MemoryStore:
    """The SummaryStore methods a run uses, with the same claim and pointer semantics, in memory."""

    def __init__(self, quotes: list[QuoteUnit], fail_quotes: Exception | None = None):
        self._quotes, self.fail_quotes = quotes, fail_quotes
        self.rows: dict[str, dict[int, ClusterSummary]] = {}
        self.complete: set[str] = set()  # the run_ids whose claim is complete
        self._pointer: RunPointer = EMPTY_POINTER
        self.writes = 0

    def quotes(self) -> list[QuoteUnit]:
        if self.fail_quotes:
            raise self.fail_quotes
        return list(self._quotes)

    def pointer(self, *, serial: bool = False) -> RunPointer:
        return self._pointer

    def write_run(self, run_id, rows) -> bool:
        assert self._pointer.run_id != run_id and all(r.run_id == run_id for r in rows)
        if run_id in self.complete:
            return False
        self.rows[run_id] = {}
        for r in rows:
            self.rows[run_id][r.cluster_id] = r
            self.writes += 1
        self.complete.add(run_id)
        return True

    def write_rows(self, rows) -> None:
        for run_id in {r.run_id for r in rows}:
            self.write_run(run_id, [r for r in rows if r.run_id == run_id])

    def publish(self, run_id, *, clusters, pages, generator, duration_ms, started_at=None) -> bool:
        started_at = started_at or datetime.now(timezone.utc)
        old = self._pointer
        if old.run_id != run_id:
            if old.started_at and old.started_at > started_at:
                return False
            if run_id not in self.complete or sorted(self.rows[run_id]) != list(range(clusters)):
                raise RunIncomplete(f"run {run_id} is not complete")
        previous = old.run_id if old.run_id != run_id else old.previous_run_id
        self._pointer = replace(old, run_id=run_id, previous_run_id=previous, clusters=clusters, pages=pages,
                                generator=generator, completed_at=datetime.now(timezone.utc),
                                duration_ms=duration_ms, started_at=started_at)
        return True

    def discard(self, run_id) -> bool:
        if run_id in (self._pointer.run_id, self._pointer.previous_run_id):
            return False
        self.rows.pop(run_id, None)
        self.complete.discard(run_id)
        return True

    def record_failure(self, run_id, error) -> None:
        self._pointer = replace(self._pointer, last_failure_at=datetime.now(timezone.utc), last_failed_run=run_id,
                                last_error=error)

    def latest(self):
        return self._pointer, sorted(self.rows.get(self._pointer.run_id, {}).values(), key=lambda r: r.cluster_id)


DEMO = Path(__file__).resolve().parents[2] / "corpus" / "demo"


def lexical_vector(text: str, dims: int = 384) -> np.ndarray:
    """A stand-in for the embedding model (seconds to load): hashed word counts, normalised. Pages sharing
    words are near each other, which is all the clustering and the neighbour choice need here."""
    v = np.zeros(dims)
    for token in tokens(text):
        v[int(hashlib.md5(token.encode()).hexdigest(), 16) % dims] += 1
    norm = np.linalg.norm(v)
    return (v / norm if norm else v).astype(np.float32)


def demo_quotes() -> list[QuoteUnit]:
    """The shipped demo corpus (24 pages) split into quotes exactly as the embedder splits it."""
    corpus = load_corpus(DEMO)
    return [QuoteUnit(p.page_id, p.number, p.section, p.character.id, q.loc, q.text, lexical_vector(q.text))
            for p in corpus.pages for q in split_quotes(p.text, page_label(p.page_id, p.number))]


def write_demo_vectors(session, keyspace: str) -> int:
    """The demo corpus's quotes, with `lexical_vector`s, into `keyspace`'s quote_vectors (no model needed):
    a book the live run can cluster. Returns the number of pages."""
    from shared.rag.quotes import Quote
    from shared.storage.vectors import VectorStore

    store, by_page = VectorStore(session, keyspace), {}
    for q in demo_quotes():
        by_page.setdefault(q.page_id, []).append(q)
    for page_id, quotes in by_page.items():
        first, vectors = quotes[0], np.stack([q.vector for q in quotes])
        where = {"page_id": page_id, "section": first.section, "page_num": first.page_num,
                 "character_id": first.character_id}
        store.write_quotes(**where, quotes=[Quote(q.loc, q.text) for q in quotes], vectors=vectors)
        store.record_page(**where, text=" ".join(q.text for q in quotes), vectors=vectors)
    return len(by_page)
