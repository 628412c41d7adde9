"""The section prior: which sections a query is *about*, judged by the notes written about each section.

Notes come from the `section_notes` table (ingested from the corpus, see shared/canon/notes.py). They
are embedded once per distinct text and kept in memory; a refresh re-reads the table and embeds only
what changed. A section's affinity to a query is its best note's cosine: one note that matches well says
more than many that match a little.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from shared.rag.embedding import DIMENSIONS, Embedder


@dataclass(frozen=True)
class StoredNote:
    section: int
    body: str


def read_notes(session, keyspace: str) -> list[StoredNote]:
    return [StoredNote(row.section, row.body) for row in session.execute(f"SELECT section, body FROM {keyspace}.section_notes")
            if row.body]


class SectionPrior:
    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder
        self._sections = np.zeros(0, dtype=np.int16)
        self._vectors = np.zeros((0, DIMENSIONS), dtype=np.float32)
        self._cache: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._sections)

    def update(self, notes: Sequence[StoredNote]) -> int:
        """Replace the notes; returns how many texts had to be embedded (0 when nothing changed)."""
        new = sorted({n.body for n in notes} - self._cache.keys())
        for body, vector in zip(new, self._embedder.encode(new)):
            self._cache[body] = vector
        wanted = {n.body for n in notes}
        self._cache = {body: v for body, v in self._cache.items() if body in wanted}
        self._sections = np.array([n.section for n in notes], dtype=np.int16)
        self._vectors = (np.stack([self._cache[n.body] for n in notes]) if notes
                         else np.zeros((0, DIMENSIONS), dtype=np.float32))
        return len(new)

    def rank(self, vector: np.ndarray, sections: Sequence[int]) -> list[int]:
        """The given sections that have notes, most relevant first."""
        if not len(self._sections):
            return []
        similarity = self._vectors @ vector
        best = {s: float(similarity[self._sections == s].max()) for s in sections if (self._sections == s).any()}
        return sorted(best, key=lambda s: -best[s])
