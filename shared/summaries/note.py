"""Keywords and the extractive note: a cluster described by its most central quotes, each cited (p.N).

Why extractive: without an LLM the note must still be faithful, so it is the book's own words, chosen by
closeness to the cluster's centre, with a framing sentence built from the cluster's distinctive keywords.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Sequence

from shared.rag.lexical import tokens
from shared.summaries.model import Cluster, PageUnit, QuoteUnit

GENERATOR = "extractive"
MIN_WORDS, MAX_WORDS = 200, 300
TARGET_WORDS = 240  # stop adding quotes past this: room for the closing line, still inside 200..300
PER_PAGE_FIRST_PASS = 2  # spread the note over pages before taking a third quote from any one
MAX_LISTED_PAGES = 12


def word_count(text: str) -> int:
    return len(text.split())


def _keyword_tokens(text: str) -> list[str]:
    return [t for t in tokens(text) if len(t) > 2 and not t.isdigit() and "'" not in t]


def cluster_keywords(cluster_texts: Sequence[str], limit: int = 8) -> list[list[str]]:
    """The terms most distinctive of each cluster (tf-idf, clusters as the documents), best first."""
    counts = [Counter(_keyword_tokens(text)) for text in cluster_texts]
    df = Counter(term for c in counts for term in c)
    n = len(counts)
    keywords = []
    for c in counts:
        scored = sorted(c.items(), key=lambda kv: (-(1 + math.log(kv[1])) * math.log(1 + n / df[kv[0]]), kv[0]))
        keywords.append([term for term, _ in scored[:limit]])
    return keywords


def _and_list(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _opening(cluster: Cluster) -> str:
    pages = cluster.members
    nums = sorted(p.page_num for p in pages if p.page_num)
    span = f", between p.{nums[0]} and p.{nums[-1]}," if len(nums) > 1 else ""
    count = "one page" if len(pages) == 1 else f"{len(pages)} pages"
    keys = _and_list(list(cluster.keywords[:4])) if cluster.keywords else "a shared mood"
    voices = sorted({p.character_id for p in pages})
    told = f" told by {_and_list(voices[:3])}" + (" and others" if len(voices) > 3 else "")
    return (f"Cluster {cluster.cluster_id} gathers {count}{span}{told}, around {keys}; "
            f"its centre is {pages[0].label}. Its most central passages:")


def _closing(cluster: Cluster, cited: set[str]) -> str:
    rest = [p.label for p in cluster.members if p.page_id not in cited]
    if not rest:
        return ""
    shown = ", ".join(f"({label})" for label in rest[:MAX_LISTED_PAGES])
    more = f" and {len(rest) - MAX_LISTED_PAGES} more" if len(rest) > MAX_LISTED_PAGES else ""
    return f"The cluster also holds {shown}{more}."


def _trim(text: str, words: int) -> str:
    return " ".join(text.split()[:max(words, 1)]).rstrip(",;:") + "…"


def _choose(quotes: Sequence[QuoteUnit], budget: int, target: int) -> list[QuoteUnit]:
    """Most central first; at most PER_PAGE_FIRST_PASS per page until every page had its turn."""
    chosen: list[QuoteUnit] = []
    used = 0
    per_page: Counter[str] = Counter()
    for limit in (PER_PAGE_FIRST_PASS, None):
        for q in quotes:
            if used >= target:
                return chosen
            if q in chosen or (limit is not None and per_page[q.page_id] >= limit):
                continue
            cost = word_count(q.text) + 1  # the citation
            if used + cost <= budget:
                chosen.append(q)
                per_page[q.page_id] += 1
                used += cost
    return chosen


def extractive_note(cluster: Cluster, pages: dict[str, PageUnit] | None = None) -> str:
    """200-300 words whenever the cluster's pages hold that much text (a one-page cluster of a short page
    cannot: its note is then all of its text, cited)."""
    labels = {p.page_id: p.label for p in (pages or {}).values()} | {p.page_id: p.label for p in cluster.members}
    opening = _opening(cluster)
    reserve = word_count(_closing(cluster, set()))
    budget = MAX_WORDS - word_count(opening) - reserve
    chosen = _choose(cluster.central_quotes, budget, TARGET_WORDS - word_count(opening))
    if not chosen and cluster.central_quotes:  # even the shortest quote is too long: trim the best one
        best = cluster.central_quotes[0]
        chosen = [QuoteUnit(best.page_id, best.page_num, best.section, best.character_id, best.loc,
                            _trim(best.text, budget - 1), best.vector)]
    order = {q.loc: i for i, q in enumerate(cluster.central_quotes)}
    body = " ".join(f"“{q.text}” ({labels[q.page_id]})" for q in sorted(chosen, key=lambda q: order.get(q.loc, 0)))
    closing = _closing(cluster, {q.page_id for q in chosen})
    return " ".join(part for part in (opening, body, closing) if part)
