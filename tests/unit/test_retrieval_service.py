"""The retrieval RPCs' own logic (scopes, one embedding per call), with the index replaced by a recording fake."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from nameko.testing.services import worker_factory

from functions.retrieval import service
from functions.retrieval.service import RetrievalService
from shared.rag.query import RetrievalQueryError
from shared.rag.shards import Hit


class CountingEmbedder:
    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts):
        self.calls += 1
        return np.zeros((len(texts), 384), dtype=np.float32)


@pytest.fixture
def retrieval(monkeypatch):
    searched: list[list[int]] = []

    def fake_search(reader, query, vector, k, sections, prior=None):
        searched.append(list(sections))
        return [Hit(page_id=f"S{s:02d}-P0001", loc=f"p1-{s}", page_num=1, section=s, character_id="an-author",
                    quote=f"quote in section {s}", score=1.0 / s) for s in sections[:k]]

    monkeypatch.setattr(service, "hybrid_search", fake_search)
    index = SimpleNamespace(embedder=CountingEmbedder(), reader=object(), prior=None)
    return worker_factory(RetrievalService, index=index), index.embedder, searched


def test_recall_ranks_own_pages_and_the_book_from_one_embedding(retrieval):
    worker, embedder, searched = retrieval
    found = worker.recall("why the tower?", 3, "arieol-owlist")
    assert embedder.calls == 1
    assert searched == [[11], list(range(1, 17))]
    assert [h["section"] for h in found["own"]] == [11]
    assert [h["section"] for h in found["book"]] == [1, 2, 3]
    assert set(found["own"][0]) == {"page_id", "page_number", "section", "character", "loc", "quote", "score"}


def test_recall_without_a_character_has_no_own_pages(retrieval):
    worker, _, searched = retrieval
    found = worker.recall("why the tower?", 2)
    assert found["own"] == [] and len(found["book"]) == 2 and searched == [list(range(1, 17))]


@pytest.mark.parametrize("args, problem", [(("  ", 3, "arieol-owlist"), "q:"), (("tower", 0, None), "k:"),
                                           (("tower", 3, "nobody"), "character:")])
def test_recall_rejects_bad_input_like_search(retrieval, args, problem):
    worker, embedder, _ = retrieval
    with pytest.raises(RetrievalQueryError, match=problem):
        worker.recall(*args)
    assert embedder.calls == 0


def test_search_scopes_to_a_section(retrieval):
    worker, embedder, searched = retrieval
    assert [h["section"] for h in worker.search("tower", 5, section=4)["results"]] == [4]
    assert searched == [[4]] and embedder.calls == 1
