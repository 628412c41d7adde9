"""The normalisation rules for the canon's historical metadata (documented in docs/CANON.md).

Each rule is deterministic and records what it did as a `Normalisation`, so `gibsey ingest` can print a
summary of every reinterpretation; the data files themselves are never edited.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from shared.canon.files import read_json
from shared.canon.model import CanonCharacter, Normalisation
from shared.numbers import ascii_whole_number
from shared.symbols import CHARACTERS, Character, character_by_id, character_for_section

if TYPE_CHECKING:
    from shared.canon.corpus import PageEntry

# Older ids for the same characters, as used in the canon's character_profiles.json and the design plans.
CHARACTER_ALIASES = {
    "old-natalie-weissman": "old-natalie",
    "new-natalie-weissman": "new-natalie",
}


def character_for_symbol_id(symbol_id: str, subject: str, notes: list[Normalisation]) -> Character:
    """Rule `character-alias`: an older id of one of the 16 characters maps to its current id."""
    canonical = CHARACTER_ALIASES.get(symbol_id)
    if canonical is not None:
        notes.append(Normalisation("character-alias", subject, f"{symbol_id!r} is {canonical!r}"))
        return character_by_id(canonical)
    return character_by_id(symbol_id)


def whole_number(raw: Any) -> int | None:
    """An id or section as given, when it is a number (or a string of digits); None for text like "Part One"."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        return ascii_whole_number(raw)
    return None


def resolve_sections(entries: list["PageEntry"], problems: list[str], notes: list[Normalisation]) -> dict[int, int]:
    """Rule `section-from-neighbours`: a non-numeric section takes the section of the nearest earlier page of
    the same character with a numeric section (else the nearest later one). The two sides cannot disagree:
    each character narrates one section, and a numeric section of another character is a problem."""
    numeric: dict[int, int] = {}
    by_character: dict[str, list["PageEntry"]] = defaultdict(list)
    for entry in entries:
        by_character[entry.character.id].append(entry)
        number = whole_number(entry.raw_section)
        if number is None:
            continue
        try:
            owner = character_for_section(number)
        except ValueError as exc:
            problems.append(f"metadata/pages.json id {entry.number:03d}: {exc}")
            continue
        if owner != entry.character:
            problems.append(f"metadata/pages.json id {entry.number:03d}: section {number} belongs to {owner.id}, "
                            f"but symbolId is {entry.character.id}")
            continue
        numeric[entry.number] = number
    sections = dict(numeric)
    for run in by_character.values():
        for i, entry in enumerate(run):
            if entry.number in numeric or whole_number(entry.raw_section) is not None:
                continue
            before = next((e for e in reversed(run[:i]) if e.number in numeric), None)
            after = next((e for e in run[i + 1:] if e.number in numeric), None)
            chosen = before or after
            if chosen is None:
                problems.append(f"metadata/pages.json id {entry.number:03d}: section {entry.raw_section!r} is not a "
                                f"number and {entry.character.id} has no page with a numeric section to take it from")
                continue
            sections[entry.number] = numeric[chosen.number]
            notes.append(Normalisation(
                "section-from-neighbours", f"metadata/pages.json id {entry.number:03d}",
                f"section {entry.raw_section!r} -> {numeric[chosen.number]} (from {entry.character.id}'s page "
                f"{chosen.number})"))
    return sections


def _read_profiles(root: Path, problems: list[str], notes: list[Normalisation]) -> dict[str, dict[str, Any]]:
    path = root / "metadata" / "character_profiles.json"
    data = read_json(path, root, problems) if path.exists() else None
    raw = data.get("characters", {}) if isinstance(data, dict) else {}
    profiles: dict[str, dict[str, Any]] = {}
    known = {c.id for c in CHARACTERS}
    for key, profile in raw.items() if isinstance(raw, dict) else ():
        cid = CHARACTER_ALIASES.get(key, key)
        if cid not in known:
            notes.append(Normalisation("profile-ignored", "metadata/character_profiles.json",
                                       f"profile {key!r} is not one of the 16 characters"))
            continue
        if cid != key:
            notes.append(Normalisation("character-alias", "metadata/character_profiles.json", f"{key!r} is {cid!r}"))
        if isinstance(profile, dict):
            profiles[cid] = profile
    return profiles


def _profile_prompt(character: Character, profile: dict[str, Any]) -> str | None:
    """A prompt from a profile's summary, traits and tone; the profiles come in several shapes."""
    summary = profile.get("brief_summary") or profile.get("role")
    traits = profile.get("personality_traits") or []
    if isinstance(traits, dict):
        traits = traits.get("core_traits") or []
    voice = profile.get("voice_patterns")
    tone = voice.get("tone") if isinstance(voice, dict) else None
    if not (isinstance(summary, str) and summary.strip()) and not traits:
        return None
    lines = [f"You are {character.display_name}, who narrates section {character.section} of The Entrance Way."]
    if isinstance(summary, str) and summary.strip():
        lines.append(summary.strip())
    if traits:
        lines.append("Core traits: " + "; ".join(str(t) for t in traits[:6]) + ".")
    if isinstance(tone, str) and tone.strip():
        lines.append(f"Tone: {tone.strip()}")
    lines.append("Speak in your own voice, stay inside the book, and quote the canon when it helps.")
    return "\n".join(lines)


def default_prompt(character: Character) -> str:
    return (f"You are {character.display_name}, one of the sixteen voices of The Entrance Way; section "
            f"{character.section} is yours. Answer in your own voice, from inside the book, grounded in the "
            f"pages you narrate, and say so plainly when the canon does not tell you something.")


def system_prompts(
    root: Path, entries: Iterable["PageEntry"], problems: list[str], notes: list[Normalisation]
) -> tuple[CanonCharacter, ...]:
    """Each character's system prompt: first_principles.md, else its profile, else a default. Colours and
    names always come from the symbol system (rule `colour-from-symbols` notes where the corpus differs)."""
    profiles = _read_profiles(root, problems, notes)
    page_counts: dict[str, int] = defaultdict(int)
    for entry in entries:
        page_counts[entry.character.id] += 1
        if entry.colour is not None and str(entry.colour).upper() != entry.character.colour:
            notes.append(Normalisation("colour-from-symbols", f"metadata/pages.json id {entry.number:03d}",
                                       f"color {entry.colour} -> {entry.character.colour}"))
    characters_dir = root / "characters"
    if characters_dir.is_dir():
        for extra in sorted(p.name for p in characters_dir.iterdir() if p.is_dir()):
            if extra in CHARACTER_ALIASES:  # not read either: the files are looked up under the current id
                notes.append(Normalisation("directory-ignored", f"characters/{extra}",
                                           f"an older id: only characters/{CHARACTER_ALIASES[extra]} is read"))
            elif extra not in {c.id for c in CHARACTERS}:
                notes.append(Normalisation("directory-ignored", f"characters/{extra}", "not one of the 16 characters"))
    result = []
    for character in CHARACTERS:
        folder = characters_dir / character.id
        info_path = folder / "info.json"
        if info_path.exists():
            info = read_json(info_path, root, problems)
            if isinstance(info, dict):
                if info.get("color") and str(info["color"]).upper() != character.colour:
                    notes.append(Normalisation("colour-from-symbols", f"characters/{character.id}/info.json",
                                               f"color {info['color']} -> {character.colour}"))
                if isinstance(info.get("pages"), int) and info["pages"] != page_counts[character.id]:
                    notes.append(Normalisation("page-count-recounted", f"characters/{character.id}/info.json",
                                               f"pages {info['pages']} -> {page_counts[character.id]} in pages.json"))
        principles = folder / "first_principles.md"
        prompt, source = None, "default"
        if principles.exists():
            try:
                prompt = principles.read_text(encoding="utf-8").strip() or None
                source = "first_principles.md"
            except UnicodeDecodeError as exc:
                problems.append(f"characters/{character.id}/first_principles.md: not UTF-8 text ({exc.reason})")
        if prompt is None and character.id in profiles:
            prompt = _profile_prompt(character, profiles[character.id])
            source = "character_profiles.json" if prompt else "default"
        result.append(CanonCharacter(character, prompt or default_prompt(character), source))
    return tuple(result)
