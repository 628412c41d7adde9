"""Every stored note is 200-300 words: small clusters are padded from the book (their own quotes, the facts of
their pages, then the nearest other clusters' quotes, cited as such), a writer's note is held to the bound,
and a book too small for any honest 200-word note is refused rather than stored short."""

from __future__ import annotations

import re

import numpy as np
import pytest

from shared.summaries.clusters import build_clusters, neighbour_quotes, pages_from_quotes
from shared.summaries.model import Cluster, QuoteUnit
from shared.summaries.note import MAX_WORDS, MIN_WORDS, word_count
from shared.summaries.run import SummaryError, note_for, summarise
from shared.summaries.settings import SummarySettings
from tests.unit.summaries_support import MemoryStore, demo_quotes, lexical_vector

MEMBER_CITATION = re.compile(r"\(p\.(\d+)\)")  # a member page: (p.12)
NEIGHBOUR_CITATION = re.compile(r"\(p\.(\d+), cluster (\d+)\)")  # a page of another cluster, named as such


def _rows(quotes: list[QuoteUnit], k: int, writer=None):
    store = MemoryStore(quotes)
    summarise(store, SummarySettings(k=k), writer=writer)
    return store.latest()[1]


@pytest.mark.parametrize("k", [48, 24, 12])
def test_every_demo_note_is_200_to_300_words_and_cites_its_own_pages(k: int):
    """k=48 on the demo's 24 pages is 24 one-page clusters; 12 of their notes were 183-196 words unpadded."""
    rows = _rows(demo_quotes(), k)
    assert len(rows) == min(k, 24)
    if k >= 24:
        assert all(len(r.member_pages) == 1 for r in rows)
    for r in rows:
        assert MIN_WORDS <= r.words <= MAX_WORDS, (r.words, r.summary)
        cited = set(MEMBER_CITATION.findall(r.summary))
        assert cited and cited <= {label[2:] for label in r.page_labels}  # borrowed pages say "cluster N"
        assert all(re.search(rf"\b{re.escape(label)}\b", r.summary) for label in r.page_labels)  # all named


def _tiny_book(pages: int, words_per_page: int) -> list[QuoteUnit]:
    """Pages of one short quote each, on a few themes, numbered 1..pages."""
    themes = ["tide harbour gulls rope", "neon tower subway lobby", "moss owl fern lantern"]
    quotes = []
    for n in range(1, pages + 1):
        theme = themes[n % len(themes)].split()
        text = " ".join(theme[i % len(theme)] for i in range(words_per_page - 2)) + f" page {n}."
        quotes.append(QuoteUnit(f"S01-P{n:04d}", n, 1, "london-fox", f"p{n}-1", text, lexical_vector(text)))
    return quotes


def test_a_cluster_too_small_borrows_the_nearest_pages_and_says_whose_they_are():
    quotes = _tiny_book(pages=30, words_per_page=20)
    clusters = build_clusters(pages_from_quotes(quotes), 30, seed=7)
    cluster_of_page = {p.page_num: c.cluster_id for c in clusters for p in c.members}
    for c in clusters:
        note, generator = note_for(c, neighbour_quotes(c, clusters), None)
        assert generator == "extractive" and MIN_WORDS <= word_count(note) <= MAX_WORDS, note
        borrowed = NEIGHBOUR_CITATION.findall(note)
        assert borrowed, note  # 20 words of its own cannot make 200
        for page, cluster_id in borrowed:
            assert int(cluster_id) != c.cluster_id and cluster_of_page[int(page)] == int(cluster_id)
        assert set(MEMBER_CITATION.findall(note)) == {str(c.center.page_num)}
        quoted = [q.text for q in quotes if f"“{q.text}”" in note or f"“{q.text[:20]}" in note]
        assert quoted  # what it quotes is the book's text, verbatim


def test_neighbours_are_nearest_first_and_exclude_the_cluster_itself():
    clusters = build_clusters(pages_from_quotes(demo_quotes()), 12, seed=7)
    c = clusters[0]
    near = neighbour_quotes(c, clusters)
    assert near and all(cid != c.cluster_id for _, cid in near)
    centre = np.mean([p.vector for p in c.members], axis=0)
    centre /= np.linalg.norm(centre)
    page_order = list(dict.fromkeys(q.page_id for q, _ in near))
    by_page = {p.page_id: p for cl in clusters for p in cl.members}
    sims = [float(by_page[pid].vector @ centre) for pid in page_order]
    assert sims == sorted(sims, reverse=True)


def test_a_book_too_small_for_a_200_word_note_is_refused_not_stored_short():
    store = MemoryStore(_tiny_book(pages=2, words_per_page=15))
    with pytest.raises(SummaryError, match="too little text"):
        summarise(store, SummarySettings(k=2))
    assert store.rows == {} and store.pointer().run_id is None


class FixedWriter:
    """A note writer that answers `words` words citing the cluster's centre page."""

    def __init__(self, words: int):
        self.words, self.name = words, "dspy:ollama:test"

    def write(self, cluster: Cluster) -> str:
        return " ".join(["echo"] * (self.words - 1)) + f" ({cluster.center.label})"


def test_a_writer_note_a_little_short_is_extended_and_the_generator_says_so():
    rows = _rows(demo_quotes(), 12, writer=FixedWriter(150))
    for r in rows:
        assert MIN_WORDS <= r.words <= MAX_WORDS
        assert r.generator == "dspy:ollama:test+extractive"
        assert r.summary.startswith("echo echo") and "More from the cluster:" in r.summary


@pytest.mark.parametrize("words", [20, 99, 301, 600])
def test_a_writer_note_far_out_of_range_gives_way_to_the_extractive_note(words: int):
    for r in _rows(demo_quotes(), 12, writer=FixedWriter(words)):
        assert MIN_WORDS <= r.words <= MAX_WORDS and r.generator == "extractive" and "echo" not in r.summary


def test_a_writer_note_in_range_is_kept_as_written():
    rows = _rows(demo_quotes(), 12, writer=FixedWriter(250))
    assert {r.generator for r in rows} == {"dspy:ollama:test"} and {r.words for r in rows} == {250}
