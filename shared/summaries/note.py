"""Keywords and the extractive note: a cluster described by its most central quotes, each cited (p.N).

Why extractive: without an LLM the note must still be faithful, so it is the book's own words, chosen by
closeness to the cluster's centre, with a framing sentence built from the cluster's distinctive keywords.
Every note is 200-300 words: a cluster whose own quotes fall short is padded (pad_note) with more of its own
words, the facts of its pages, then the nearest passages of other clusters, each cited; nothing is invented.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace
from typing import Callable, Iterable, Sequence

from shared.rag.lexical import tokens
from shared.summaries.model import Cluster, QuoteUnit

GENERATOR = "extractive"
MIN_WORDS, MAX_WORDS = 200, 300
TARGET_WORDS = 240  # stop adding quotes past this: room for the closing line, still inside 200..300
PER_PAGE_FIRST_PASS = 2  # spread the note over pages before taking a third quote from any one
MAX_LISTED_PAGES = 12
MIN_TRIMMED_WORDS = 8  # a padding quote cut shorter than this says nothing: leave it out
NEIGHBOUR_MARGIN = 10  # padding from other clusters stops a little past 200 words, not at the target


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


def _cited(q: QuoteUnit, text: str | None = None) -> str:
    return f"“{text or q.text}” ({q.label})"


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


def _quoted_run(lead: str, quotes: Sequence[QuoteUnit], cite: Callable[[QuoteUnit, str | None], str],
                have: int, want: int) -> str:
    """`lead` and then whole quotes, in order, until the note reaches `want` words; the quote that would pass
    MAX_WORDS is cut (verbatim, with …) to the room left. Empty when not even a few words fit."""
    parts, words = [lead], have + word_count(lead)
    for q in quotes:
        if words >= want:
            break
        whole = cite(q, None)
        if words + word_count(whole) <= MAX_WORDS:
            parts.append(whole)
            words += word_count(whole)
            continue
        room = MAX_WORDS - words - word_count(cite(q, "x"))  # "x": the quote marks and the citation alone
        if room >= MIN_TRIMMED_WORDS:
            parts.append(cite(q, _trim(q.text, room)))
            words = MAX_WORDS
        break
    return " ".join(parts) if len(parts) > 1 else ""


def _facts(cluster: Cluster) -> str:
    """What the store knows about the cluster's pages: section and teller of each, and all its keywords."""
    listed = "; ".join(f"{p.label}, section {p.section}, told by {p.character_id}"
                       for p in cluster.members[:MAX_LISTED_PAGES])
    more = f"; and {len(cluster.members) - MAX_LISTED_PAGES} more" if len(cluster.members) > MAX_LISTED_PAGES else ""
    keys = f" Its distinctive words: {_and_list(list(cluster.keywords))}." if cluster.keywords else ""
    return f"Its pages: {listed}{more}.{keys}"


def pad_note(note: str, cluster: Cluster, neighbours: Sequence[tuple[QuoteUnit, int]] = (),
             quoted: Iterable[QuoteUnit] = ()) -> str:
    """Bring a note under MIN_WORDS up to 200-300 words with nothing but the book and the store: first more
    of the cluster's own quotes (those not `quoted` yet), then the facts of its pages (section, teller,
    keywords), then the nearest quotes from other clusters' pages, cited with the cluster they belong to.
    A note it cannot bring up (a book with too little text) comes back short: the caller must refuse it."""
    if word_count(note) >= MIN_WORDS:
        return note
    taken = {q.loc for q in quoted}
    own = [q for q in cluster.central_quotes if q.loc not in taken]
    parts = [note]

    def add(part: str) -> None:
        if part and word_count(" ".join(parts + [part])) <= MAX_WORDS:
            parts.append(part)

    def words() -> int:
        return word_count(" ".join(parts))

    add(_quoted_run("More from the cluster:", own, _cited, words(), TARGET_WORDS))
    if words() < MIN_WORDS:
        add(_facts(cluster))
    if words() < MIN_WORDS:
        cluster_of = {q.loc: c for q, c in neighbours}

        def cite_neighbour(q: QuoteUnit, text: str | None) -> str:
            return f"“{text or q.text}” ({q.label}, cluster {cluster_of[q.loc]})"

        add(_quoted_run("Nearest to it outside the cluster:", [q for q, _ in neighbours], cite_neighbour, words(),
                        MIN_WORDS + NEIGHBOUR_MARGIN))
    return " ".join(parts)


def extractive_note(cluster: Cluster, neighbours: Sequence[tuple[QuoteUnit, int]] = ()) -> str:
    """200-300 words: the cluster's most central quotes, cited, framed by its keywords and pages. A cluster
    too small to fill 200 words (a one-page cluster of a short page) is padded by `pad_note`, from
    `neighbours` (other clusters' quotes, nearest first: see clusters.neighbour_quotes) if need be."""
    opening = _opening(cluster)
    reserve = word_count(_closing(cluster, set()))
    budget = MAX_WORDS - word_count(opening) - reserve
    chosen = _choose(cluster.central_quotes, budget, TARGET_WORDS - word_count(opening))
    if not chosen and cluster.central_quotes:  # even the shortest quote is too long: trim the best one
        best = cluster.central_quotes[0]
        chosen = [replace(best, text=_trim(best.text, budget - 1))]
    order = {q.loc: i for i, q in enumerate(cluster.central_quotes)}
    body = " ".join(_cited(q) for q in sorted(chosen, key=lambda q: order.get(q.loc, 0)))
    closing = _closing(cluster, {q.page_id for q in chosen})
    note = " ".join(part for part in (opening, body, closing) if part)
    return pad_note(note, cluster, neighbours, quoted=chosen)
