"""Small corpora in the Gibsey layout, written into a tmp dir, for tests of ingest and its bad inputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.symbols import CHARACTERS


def page_entries(per_character: int = 2) -> list[dict[str, Any]]:
    """A clean book: `per_character` pages for each of the 16 characters, in section order."""
    entries = []
    for character in CHARACTERS:
        for i in range(per_character):
            number = len(entries) + 1
            entries.append({"id": f"{number:03d}", "symbolId": character.id, "title": f"{character.display_name} {i + 1}",
                            "color": character.colour, "pageIndex": i + 1, "section": character.section,
                            "filename": f"{number:03d}-{character.id}.md"})
    return entries


def write_corpus(root: Path, entries: list[dict[str, Any]] | None = None, *, texts: dict[str, str] | None = None,
                 characters: bool = True) -> Path:
    entries = page_entries() if entries is None else entries
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    (root / "pages").mkdir(exist_ok=True)
    (root / "metadata" / "pages.json").write_text(json.dumps(entries, indent=1))
    texts = texts or {}
    for entry in entries:
        name = entry.get("filename")
        if name and Path(name).name == name and name not in texts:
            texts[name] = f"Page {entry['id']} of the test book, told by {entry['symbolId']}.\n"
    for name, text in texts.items():
        if text is not None:
            (root / "pages" / name).write_text(text)
    if characters:
        for character in CHARACTERS:
            folder = root / "characters" / character.id
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "info.json").write_text(json.dumps({"symbolId": character.id, "color": character.colour}))
    return root
