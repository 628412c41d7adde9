"""Hybrid ranking: lexical coverage, the section prior and the spread over sections (vectors made up here)."""

import numpy as np
import pytest

from shared.rag.lexical import LexicalShard, coverage_scores, tokens
from shared.rag.notes import SectionPrior, StoredNote
from shared.rag.ranking import LEAD, hybrid_search
from shared.rag.shards import ShardReader, build_shard
from shared.storage.vectors import QuoteRow


def _unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=384).astype(np.float32)
    return v / np.linalg.norm(v)


class TableEmbedder:
    """Stands in for the model: each known text has a fixed vector."""

    def __init__(self, table: dict[str, np.ndarray]):
        self.table, self.calls = table, 0

    def encode(self, texts):
        self.calls += 1
        return np.stack([self.table[t] for t in texts]) if texts else np.zeros((0, 384), dtype=np.float32)


def test_tokens_fold_case_apostrophes_and_stop_words():
    assert tokens("The Fox’s tower, and THE caves!") == ["fox's", "tower", "caves"]


def test_coverage_is_one_for_a_quote_holding_every_rare_query_word_and_ranks_partial_lower():
    shard = LexicalShard.build(["the fox climbed the tower", "a fox slept", "rain fell on the park"])
    scores = coverage_scores("fox climbed tower", [(3, shard)])
    assert scores[(3, 0)] == pytest.approx(1.0, abs=0.15) and scores[(3, 0)] <= 1.0
    assert 0 < scores[(3, 1)] < scores[(3, 0)]
    assert (3, 2) not in scores
    assert coverage_scores("the and of", [(3, shard)]) == {}


def test_document_frequency_is_counted_over_every_shard_searched():
    common = LexicalShard.build(["tower"] * 20)
    rare = LexicalShard.build(["tower", "geyser"])
    alone = coverage_scores("tower geyser", [(2, rare)])
    together = coverage_scores("tower geyser", [(1, common), (2, rare)])
    assert together[(2, 1)] > alone[(2, 1)]  # "tower" is everywhere in the book, so "geyser" carries more


def _shards(tmp_path):
    rows = {
        1: [QuoteRow("S01-P0001", "p1-1", 1, "an-author", "A preface about found pages.", _unit(1).tolist())],
        2: [QuoteRow("S02-P0009", "p9-1", 9, "london-fox", "London Fox meets the system.", _unit(2).tolist()),
            QuoteRow("S02-P0010", "p10-1", 10, "london-fox", "The geyser sang at noon.", _unit(3).tolist())],
        3: [QuoteRow("S03-P0025", f"p25-{i}", 25, "glyph-marrow", f"Glyph waits in line {i}.", _unit(10 + i).tolist())
            for i in range(5)],
    }
    for section, section_rows in rows.items():
        build_shard(tmp_path, section, section_rows, trees=4)
    return ShardReader(tmp_path)


def test_a_pasted_line_comes_first_even_when_its_vector_is_far(tmp_path):
    reader = _shards(tmp_path)
    query_vector = 0.6 * _unit(11) + 0.8 * _unit(50)  # nearest by vector (cosine ~0.6): a section-3 quote
    hits = hybrid_search(reader, "geyser sang at noon", query_vector, 3, [1, 2, 3])
    assert hits[0].loc == "p10-1" and hits[0].score > 0.8  # its cosine is ~0: the score is its word coverage
    assert hits[1].loc == "p25-1"


def test_the_prior_brings_the_sections_a_query_is_about_into_the_results(tmp_path):
    reader = _shards(tmp_path)
    query = _unit(11)
    about_1, about_2 = _unit(1) * 0.2 + query, _unit(2) * 0.2 + query * 0.9
    notes = [StoredNote(1, "about section one"), StoredNote(2, "about section two"), StoredNote(3, "elsewhere")]
    prior = SectionPrior(TableEmbedder({"about section one": about_1 / np.linalg.norm(about_1),
                                        "about section two": about_2 / np.linalg.norm(about_2),
                                        "elsewhere": _unit(99)}))
    prior.update(notes)
    assert prior.rank(query, [1, 2, 3])[:2] == [1, 2]
    without = hybrid_search(reader, "waits", query, 4, [1, 2, 3])
    with_prior = hybrid_search(reader, "waits", query, 4, [1, 2, 3], prior)
    assert {h.section for h in without} == {3}
    assert [h.section for h in with_prior[:LEAD]] == [3, 3]
    assert {h.section for h in with_prior[LEAD:]} == {1, 2}
    assert [h.loc for h in hybrid_search(reader, "waits", query, 4, [3], prior)] == [h.loc for h in without]


def test_the_prior_embeds_only_new_texts_and_forgets_removed_ones():
    embedder = TableEmbedder({"a": _unit(1), "b": _unit(2)})
    prior = SectionPrior(embedder)
    assert prior.update([StoredNote(1, "a")]) == 1
    assert prior.update([StoredNote(1, "a"), StoredNote(2, "b")]) == 1
    assert prior.update([StoredNote(2, "b")]) == 0 and len(prior) == 1
    assert prior.rank(_unit(1), [1, 2]) == [2]
    assert SectionPrior(embedder).rank(_unit(1), [1, 2]) == []


def test_exact_search_agrees_with_annoy_on_a_small_shard(tmp_path):
    reader = _shards(tmp_path)
    query = _unit(12)
    assert [h.loc for h in reader.search_exact(query, 3)] == [h.loc for h in reader.search(query, 3)]
    assert reader.search_exact(query, 1)[0].score == pytest.approx(1.0, abs=1e-5)
