"""`load_corpus(path)`: read a corpus in the Gibsey layout, check all of it, normalise its metadata.

Layout: `pages/*.md` (one page per file), `metadata/pages.json` (id, symbolId, title, section, pageIndex,
filename), `characters/<id>/info.json` and, where present, `characters/<id>/first_principles.md`;
optionally `metadata/character_profiles.json` and `metadata/section_summaries.json` (section notes).

Every problem in the corpus is collected before anything is reported, so one run names every offending
file; nothing is written unless the whole corpus loads (see shared/canon/ingest.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.canon.files import read_json
from shared.canon.model import CanonPage, Corpus, Normalisation
from shared.canon.normalise import character_for_symbol_id, resolve_sections, system_prompts, whole_number
from shared.canon.notes import section_notes
from shared.symbols import Character, SymbolError

REQUIRED_KEYS = ("id", "symbolId", "title", "section", "filename")


class CorpusError(ValueError):
    """The corpus cannot be ingested; `problems` names each offending file and what is wrong with it."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the corpus:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class PageEntry:
    """One metadata entry that passed the per-entry checks; its section may still be text."""

    number: int
    character: Character
    title: str
    raw_section: Any
    page_index: Any
    colour: Any
    filename: str


def _entries(metadata: Any, problems: list[str], notes: list[Normalisation]) -> list[PageEntry]:
    where = "metadata/pages.json"
    if not isinstance(metadata, list):
        problems.append(f"{where}: expected a JSON list of pages, got {type(metadata).__name__}")
        return []
    entries: list[PageEntry] = []
    first_seen: dict[int, int] = {}
    for index, item in enumerate(metadata):
        label = f"{where} entry {index}"
        if not isinstance(item, dict):
            problems.append(f"{label}: expected an object, got {type(item).__name__}")
            continue
        missing = [key for key in REQUIRED_KEYS if key not in item]
        if missing:
            problems.append(f"{label} (id {item.get('id')!r}): missing {', '.join(missing)}")
            continue
        number = whole_number(item["id"])
        if number is None or number < 1:
            problems.append(f"{label}: id {item['id']!r} is not a positive page number")
            continue
        if number in first_seen:
            problems.append(f"{where}: duplicate id {item['id']!r} (entries {first_seen[number]} and {index}, "
                            f"files {metadata[first_seen[number]].get('filename')!r} and {item['filename']!r})")
            continue
        first_seen[number] = index
        try:
            character = character_for_symbol_id(str(item["symbolId"]), f"{where} id {item['id']}", notes)
        except SymbolError as exc:
            problems.append(f"{label} (id {item['id']!r}): {exc}")
            continue
        filename = str(item["filename"])
        if Path(filename).name != filename or not filename.endswith(".md"):
            problems.append(f"{label} (id {item['id']!r}): filename {filename!r} must be a .md file inside pages/")
            continue
        if not isinstance(item["title"], str):  # str() would store null as the title "None"
            problems.append(f"{label} (id {item['id']!r}): title {item['title']!r} is not text")
            continue
        title = item["title"].strip()
        if title != item["title"]:
            notes.append(Normalisation("title-trimmed", f"{where} id {item['id']}", "whitespace trimmed"))
        entries.append(PageEntry(number, character, title or f"Page {number}", item["section"],
                                 item.get("pageIndex"), item.get("color"), filename))
    entries.sort(key=lambda e: e.number)
    numbers = [e.number for e in entries]
    if numbers and numbers != list(range(1, len(numbers) + 1)):
        gaps = sorted(set(range(1, max(numbers) + 1)) - set(numbers))
        shown = ", ".join(map(str, gaps[:10])) + (" ..." if len(gaps) > 10 else "")
        problems.append(f"{where}: page ids must run 1..N without gaps; missing {shown}")
    return entries


def _read_page(root: Path, entry: PageEntry, problems: list[str]) -> str | None:
    path = root / "pages" / entry.filename
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.append(f"pages/{entry.filename}: missing (named by metadata/pages.json id {entry.number:03d})")
        return None
    except UnicodeDecodeError as exc:
        problems.append(f"pages/{entry.filename}: not UTF-8 text ({exc.reason} at byte {exc.start})")
        return None
    if not text.strip():
        problems.append(f"pages/{entry.filename}: empty page (metadata/pages.json id {entry.number:03d})")
        return None
    return text


def load_corpus(path: Path | str) -> Corpus:
    """Load and normalise a corpus, or raise `CorpusError` listing every problem found."""
    root = Path(path)
    if not (root / "metadata").is_dir() or not (root / "pages").is_dir():
        raise CorpusError([f"{root}: not a Gibsey corpus (expected metadata/ and pages/ inside it)"])
    problems: list[str] = []
    notes: list[Normalisation] = []
    metadata = read_json(root / "metadata" / "pages.json", root, problems)
    entries = _entries(metadata, problems, notes) if metadata is not None else []
    texts = {entry.number: _read_page(root, entry, problems) for entry in entries}
    sections = resolve_sections(entries, problems, notes)
    characters = system_prompts(root, entries, problems, notes)
    notes_about_sections = section_notes(root, problems)
    if problems:
        raise CorpusError(problems)
    pages = tuple(
        CanonPage(e.number, sections[e.number], e.character, e.title, texts[e.number] or "", root / "pages" / e.filename)
        for e in entries
    )
    _note_page_index(entries, sections, notes)
    return Corpus(root, pages, characters, tuple(notes), notes_about_sections)


def _note_page_index(entries: list[PageEntry], sections: dict[int, int], notes: list[Normalisation]) -> None:
    """pageIndex restarts inside sections in places; it is ignored (the id is the page number) and noted."""
    position: dict[int, int] = {}
    for entry in entries:
        section = sections[entry.number]
        position[section] = position.get(section, 0) + 1
        given = entry.page_index
        if given is not None and whole_number(given) != position[section]:
            notes.append(Normalisation(
                "page-index-ignored", f"metadata/pages.json id {entry.number:03d}",
                "pageIndex does not count pages within the section; the page number is the id"))
