"""What a loaded, validated, normalised corpus is made of."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from shared.symbols import Character

CANON_BOOK = "canon"


def canon_page_id(section: int, page_number: int) -> str:
    """`S{section:02d}-P{page:04d}` with the global page number: page 79 in section 3 is S03-P0079."""
    return f"S{section:02d}-P{page_number:04d}"


@dataclass(frozen=True)
class Normalisation:
    """One change made to the metadata as given, so an operator can see exactly what was reinterpreted."""

    rule: str
    subject: str  # the file or entry it applies to
    detail: str


@dataclass(frozen=True)
class CanonPage:
    number: int  # the global page number, 1..N (the metadata's `id`)
    section: int
    character: Character
    title: str
    text: str
    source: Path

    @property
    def page_id(self) -> str:
        return canon_page_id(self.section, self.number)

    @property
    def content_version(self) -> str:
        """A short digest of what the page says; it changes exactly when the page's content changes."""
        digest = hashlib.sha256(f"{self.section}\x1f{self.title}\x1f{self.text}".encode()).hexdigest()
        return f"canon-{digest[:12]}"


@dataclass(frozen=True)
class CanonCharacter:
    character: Character
    system_prompt: str
    prompt_source: str  # "first_principles.md", "character_profiles.json" or "default"


@dataclass(frozen=True)
class SectionNote:
    """One short text about a section (see shared/canon/notes.py); `key` is stable, e.g. "summary"."""

    section: int
    key: str
    body: str


@dataclass(frozen=True)
class Corpus:
    root: Path
    pages: tuple[CanonPage, ...]  # in page-number order, 1..N
    characters: tuple[CanonCharacter, ...]  # all 16, in symbol order
    normalisations: tuple[Normalisation, ...]
    section_notes: tuple[SectionNote, ...] = ()

    def next_number(self, number: int) -> int:
        """The ring: after the last page comes page 1."""
        return number % len(self.pages) + 1

    def page(self, number: int) -> CanonPage:
        return self.pages[number - 1]
