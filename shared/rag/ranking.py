"""Hybrid retrieval: vector and lexical candidates fused into one score, then spread over sections.

Measured on ../shared/eval/rag_public.jsonl (docs/BENCHMARKS.md): vectors alone miss garbled quotes and
rank quote-level matches poorly for questions about a section's themes; BM25 alone finds every quote but
no themes. So:

1. Candidates: the `CANDIDATES` nearest quotes by vector and the `CANDIDATES` best lexical matches.
2. Score: cosine + LEXICAL_WEIGHT x lexical coverage (0..1), so a passage holding the query's words
   rises above one that merely means something close.
3. Order: the first LEAD results are the best-scoring quotes; then, for the SPREAD sections the section
   notes rank highest (shared/rag/notes.py) and not yet represented, that section's best quote; then the
   rest by score. A reader asking about a theme sees the passages most like the query *and* the parts of
   the book that are about it; a reader pasting a line still gets that line first.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np

from shared.rag.notes import SectionPrior
from shared.rag.shards import Hit, ShardReader

CANDIDATES = 100
LEXICAL_WEIGHT = 1.0
LEAD = 2
SPREAD = 3


def hybrid_search(reader: ShardReader, query: str, vector: np.ndarray, k: int, sections: Sequence[int],
                  prior: SectionPrior | None = None) -> list[Hit]:
    fused: dict[tuple[str, str], Hit] = {}
    for hit in reader.search(vector, CANDIDATES, sections):
        fused[(hit.page_id, hit.loc)] = hit
    for hit, coverage in reader.lexical(query, CANDIDATES, vector, sections):
        key = (hit.page_id, hit.loc)
        fused[key] = replace(hit, score=fused.get(key, hit).score + LEXICAL_WEIGHT * coverage)
    ranked = sorted(fused.values(), key=lambda h: -h.score)
    spread = prior.rank(vector, sections)[:SPREAD] if prior is not None and len(sections) > 1 else []
    return _spread(ranked, spread, k, lambda section: reader.search(vector, 1, [section]))


def _spread(ranked: list[Hit], spread_sections: Sequence[int], k: int, best_in) -> list[Hit]:
    chosen = ranked[:min(LEAD, k)]
    for section in spread_sections:
        if len(chosen) >= k:
            break
        if any(h.section == section for h in chosen):
            continue
        best = next((h for h in ranked if h.section == section), None) or next(iter(best_in(section)), None)
        if best is not None:
            chosen.append(best)
    keys = {(h.page_id, h.loc) for h in chosen}
    chosen.extend(h for h in ranked if (h.page_id, h.loc) not in keys)
    return chosen[:k]
