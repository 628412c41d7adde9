"""From quote vectors to clusters of pages: a page is the mean of its quotes, k-means groups the pages.

Why pages, not single quotes: a reader and a character ask "which cluster is this page in" (one answer per
page), and k must shrink when the book has fewer pages than k. The quotes still pick the note's passages.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Sequence

import numpy as np

from shared.summaries.kmeans import kmeans
from shared.summaries.model import Cluster, PageUnit, QuoteUnit
from shared.summaries.note import cluster_keywords

NEIGHBOUR_PAGES = 12  # a too-small cluster's note borrows from at most this many nearby pages


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm else v


def pages_from_quotes(quotes: Iterable[QuoteUnit]) -> list[PageUnit]:
    """Pages sorted by id (so the clustering does not depend on read order), each with its unit mean vector."""
    by_page: dict[str, list[QuoteUnit]] = defaultdict(list)
    for q in quotes:
        by_page[q.page_id].append(q)
    pages = []
    for page_id in sorted(by_page):
        qs = tuple(sorted(by_page[page_id], key=lambda q: (len(q.loc), q.loc)))  # p3-2 before p3-10
        mean = _unit(np.mean(np.stack([q.vector for q in qs]).astype(np.float64), axis=0))
        first = qs[0]
        pages.append(PageUnit(page_id, first.page_num, first.section, first.character_id, qs, mean))
    return pages


def build_clusters(pages: list[PageUnit], k: int, seed: int) -> list[Cluster]:
    """k clusters (fewer if there are fewer pages), numbered 0..k-1 by their centre page's position in the
    book, members and quotes ordered by cosine to the (normalised) centroid."""
    if not pages:
        return []
    result = kmeans(np.stack([p.vector for p in pages]), k, seed=seed)
    drafts = []
    for c in range(len(result.centroids)):
        centre = _unit(result.centroids[c])
        members = [p for p, label in zip(pages, result.labels) if label == c]
        members.sort(key=lambda p: (-float(p.vector @ centre), p.page_id))
        quotes = sorted((q for p in members for q in p.quotes),
                        key=lambda q: (-float(_unit(np.asarray(q.vector, dtype=np.float64)) @ centre), q.loc))
        drafts.append((members, quotes))
    drafts.sort(key=lambda d: (d[0][0].page_num or 10**9, d[0][0].page_id))
    keywords = cluster_keywords([" ".join(q.text for q in quotes) for _, quotes in drafts])
    return [Cluster(i, tuple(members), tuple(quotes), tuple(keywords[i]))
            for i, (members, quotes) in enumerate(drafts)]


def neighbour_quotes(cluster: Cluster, clusters: Sequence[Cluster], pages: int = NEIGHBOUR_PAGES
                     ) -> list[tuple[QuoteUnit, int]]:
    """The quotes of the `pages` other-cluster pages nearest this cluster's centre, nearest page first, each
    page's quotes in reading order, with the cluster they belong to: what a too-small cluster's note may
    borrow (cited as such) to reach 200 words."""
    centre = _unit(np.mean(np.stack([p.vector for p in cluster.members]).astype(np.float64), axis=0))
    others = [(p, c.cluster_id) for c in clusters if c.cluster_id != cluster.cluster_id for p in c.members]
    others.sort(key=lambda pc: (-float(np.asarray(pc[0].vector, dtype=np.float64) @ centre), pc[0].page_id))
    return [(q, cluster_id) for page, cluster_id in others[:pages] for q in page.quotes]
