"""Lexical matching of quotes (BM25), the half of hybrid retrieval that the sentence vectors miss.

MiniLM vectors find passages that *mean* something close to the query, but a reader pasting half a
remembered sentence, or a rare name, wants the passage with those words: BM25 over the same quotes
finds it. Scores are reported as *coverage* in 0..1 (the BM25 score over the score an ideal passage
holding every query term once would get), so they can be added to a cosine similarity on a fixed scale.

Each shard's postings are built from its quotes when the shard is loaded (milliseconds for a section);
document frequencies are summed over the shards searched, so IDF is the book's, not one section's.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Sequence

K1 = 1.2
B = 0.75
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
STOP_WORDS = frozenset(
    "a an and are as at be been but by can could did do for from had has have he her hers him his how i if in "
    "into is it its just me my no not of on or our out over she should so than that the their them then there "
    "they this to up was we were what when where which who whom whose why will with would you your".split())


def tokens(text: str) -> list[str]:
    """Lower-case word tokens without stop words; curly apostrophes are folded to straight ones."""
    return [t for t in _TOKEN.findall(text.lower().replace("’", "'")) if t not in STOP_WORDS]


@dataclass
class LexicalShard:
    """Postings for one shard's quotes: term -> [(item, term frequency)], and each quote's length."""

    postings: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    lengths: list[int] = field(default_factory=list)

    @classmethod
    def build(cls, texts: Iterable[str]) -> "LexicalShard":
        postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        lengths: list[int] = []
        for item, text in enumerate(texts):
            counts = Counter(tokens(text))
            lengths.append(sum(counts.values()))
            for term, tf in counts.items():
                postings[term].append((item, tf))
        return cls(dict(postings), lengths)


def coverage_scores(query: str, shards: Sequence[tuple[int, LexicalShard]]) -> dict[tuple[int, int], float]:
    """{(section, item): coverage in 0..1} for every quote sharing a term with the query."""
    terms = set(tokens(query))
    live = [(section, shard) for section, shard in shards if shard.lengths]
    if not terms or not live:
        return {}
    n_docs = sum(len(shard.lengths) for _, shard in live)
    avg_len = sum(sum(shard.lengths) for _, shard in live) / n_docs or 1.0
    idf = {t: math.log(1 + (n_docs - df + 0.5) / (df + 0.5))
           for t in terms if (df := sum(len(shard.postings.get(t, ())) for _, shard in live))}
    if not idf:
        return {}
    query_len = len(tokens(query))
    ideal = sum(w * (K1 + 1) / (1 + K1 * (1 - B + B * query_len / avg_len)) for w in idf.values())
    scores: dict[tuple[int, int], float] = defaultdict(float)
    for section, shard in live:
        for term, weight in idf.items():
            for item, tf in shard.postings.get(term, ()):
                norm = 1 - B + B * shard.lengths[item] / avg_len
                scores[(section, item)] += weight * tf * (K1 + 1) / (tf + K1 * norm)
    return {key: min(1.0, score / ideal) for key, score in scores.items()}
