"""The values a summary run passes around: quotes, pages (a unit vector each), clusters and their notes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np


def page_label(page_id: str, page_num: int | None) -> str:
    """How a note cites a page: p.12 for canon pages, the id for generated ones."""
    return f"p.{page_num}" if page_num else f"p.{page_id}"


@dataclass(frozen=True)
class QuoteUnit:
    page_id: str
    page_num: int | None
    section: int
    character_id: str
    loc: str
    text: str
    vector: np.ndarray = field(repr=False, compare=False)

    @property
    def label(self) -> str:
        return page_label(self.page_id, self.page_num)


@dataclass(frozen=True)
class PageUnit:
    """One page: its quotes and the normalised mean of their vectors (what page_vectors holds too)."""

    page_id: str
    page_num: int | None
    section: int
    character_id: str
    quotes: tuple[QuoteUnit, ...]
    vector: np.ndarray = field(repr=False, compare=False)

    @property
    def label(self) -> str:
        return page_label(self.page_id, self.page_num)


@dataclass(frozen=True)
class Cluster:
    cluster_id: int
    members: tuple[PageUnit, ...]  # most central first; members[0] is the centre page
    central_quotes: tuple[QuoteUnit, ...]  # the members' quotes, most central first
    keywords: tuple[str, ...]

    @property
    def center(self) -> PageUnit:
        return self.members[0]


@dataclass(frozen=True)
class ClusterSummary:
    """One row of cluster_summaries, as the API and the chat read it."""

    cluster_id: int
    run_id: str
    center_page: str
    member_pages: tuple[str, ...]
    page_labels: tuple[str, ...]
    keywords: tuple[str, ...]
    summary: str
    generator: str
    updated_at: datetime

    @property
    def words(self) -> int:
        return len(self.summary.split())

    def as_dict(self) -> dict[str, Any]:
        return {"cluster_id": self.cluster_id, "run_id": self.run_id, "center_page": self.center_page,
                "member_pages": list(self.member_pages), "page_labels": list(self.page_labels),
                "keywords": list(self.keywords), "summary": self.summary, "generator": self.generator,
                "words": self.words, "updated_at": self.updated_at.isoformat()}
