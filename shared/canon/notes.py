"""Section notes: what `metadata/section_summaries.json` says about each section, as short plain texts.

Retrieval uses them as a section prior (a query about a section's themes rarely shares words or close
vectors with any single passage of it, but it does with the notes about it). Which fields become notes:
the prose ones (title, summary, thematic_summary, character_development, architectural_significance)
and the lists narrative_techniques and mystical_elements. `key_plot_points` is deliberately left out:
the public retrieval eval (`../shared/eval/rag_public.jsonl`) uses those lines verbatim as queries, so
indexing them would measure recall of the eval rather than of the book.

The file is optional; when present, every problem in it is reported like any other corpus problem.
"""

from __future__ import annotations

from pathlib import Path

from shared.canon.files import read_json
from shared.canon.model import SectionNote
from shared.canon.normalise import whole_number
from shared.symbols import SECTION_COUNT

NOTES_FILE = Path("metadata") / "section_summaries.json"
PROSE_FIELDS = ("title", "summary", "thematic_summary", "character_development", "architectural_significance")
LIST_FIELDS = ("narrative_techniques", "mystical_elements")


def section_notes(root: Path, problems: list[str]) -> tuple[SectionNote, ...]:
    path = root / NOTES_FILE
    if not path.exists():
        return ()
    data = read_json(path, root, problems)
    if data is None:
        return ()
    sections = data.get("sections") if isinstance(data, dict) else None
    if not isinstance(sections, dict):
        problems.append(f"{NOTES_FILE}: expected an object with a \"sections\" object")
        return ()
    notes: list[SectionNote] = []
    for key, entry in sections.items():
        section = whole_number(key)
        if section is None or not 1 <= section <= SECTION_COUNT:
            problems.append(f"{NOTES_FILE}: section key {key!r} is not 1..{SECTION_COUNT}")
            continue
        if not isinstance(entry, dict):
            problems.append(f"{NOTES_FILE}: section {key} is not an object")
            continue
        notes.extend(_entry_notes(section, entry))
    return tuple(sorted(notes, key=lambda n: (n.section, n.key)))


def _entry_notes(section: int, entry: dict) -> list[SectionNote]:
    notes = [SectionNote(section, field, " ".join(str(entry[field]).split()))
             for field in PROSE_FIELDS if isinstance(entry.get(field), str) and entry[field].strip()]
    for field in LIST_FIELDS:
        items = entry.get(field)
        if isinstance(items, list):
            notes.extend(SectionNote(section, f"{field}.{i}", " ".join(str(item).split()))
                         for i, item in enumerate(items, start=1) if str(item).strip())
    return notes
