"""Every normalisation rule of docs/CANON.md, each triggered alone in a small corpus: the value it yields,
the one `Normalisation` it records and the summary line `gibsey ingest` prints for it.

Each case changes one thing in a clean corpus (tests/corpus_builder.py), so the case's record must be the
only one; one test puts every case into one corpus and reads what `gibsey ingest --dry-run` prints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

from shared import cli
from shared.canon import CanonCharacter, Corpus, CorpusError, Normalisation, load_corpus
from shared.canon.report import summarise
from shared.symbols import CHARACTERS, character_by_id
from tests.corpus_builder import page_entries, write_corpus

PER_CHARACTER = 3  # three pages each, so a character's middle page has a page of theirs on both sides
PAGES = "metadata/pages.json"
PROFILES = "metadata/character_profiles.json"


def _character(corpus: Corpus, character_id: str) -> CanonCharacter:
    return next(c for c in corpus.characters if c.character.id == character_id)


def _set(index: int, **values: Any) -> Callable[[list[dict[str, Any]]], None]:
    """A change to one pages.json entry (index 0 is page id 001)."""
    return lambda entries: entries[index].update(values)


def _pad_title(index: int) -> Callable[[list[dict[str, Any]]], None]:
    def change(entries: list[dict[str, Any]]) -> None:
        entries[index]["title"] = f"  {entries[index]['title']}\t\n"
    return change


def _add_profile(key: str, profile: dict[str, Any]) -> Callable[[Path], None]:
    """Adds one profile to character_profiles.json, keeping those already there."""
    def change(root: Path) -> None:
        path = root / PROFILES
        data = json.loads(path.read_text()) if path.exists() else {"characters": {}}
        data["characters"][key] = profile
        path.write_text(json.dumps(data))
    return change


def _info(character_id: str, **values: Any) -> Callable[[Path], None]:
    """Rewrites one character's info.json with the given keys on top of the builder's."""
    def change(root: Path) -> None:
        path = root / "characters" / character_id / "info.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **values}))
    return change


def _mkdir(relative: str) -> Callable[[Path], None]:
    return lambda root: (root / relative).mkdir(parents=True)


def _write(relative: str, text: str) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return change


@dataclass(frozen=True)
class Case:
    """One rule triggered once: how, what it must record and print, and the value it must yield."""

    name: str
    record: Normalisation
    line: str  # as summarise() renders it; the CLI prints it indented by two spaces
    check: Callable[[Corpus], bool]
    entries: Callable[[list[dict[str, Any]]], None] | None = None  # before the corpus is written
    files: Callable[[Path], None] | None = None  # after


GLYPH = character_by_id("glyph-marrow")
LONDON = character_by_id("london-fox")

# Page ids by character with PER_CHARACTER = 3: an-author 1-3, london-fox 4-6, glyph-marrow 7-9, ...,
# old-natalie 19-21, princhetta 22-24, cop-e-right 25-27.
CASES = [
    Case("section-from-neighbours: the earlier page of the character gives the section",
         Normalisation("section-from-neighbours", f"{PAGES} id 008",
                       "section 'Part One: The Entrance Way' -> 3 (from glyph-marrow's page 7)"),
         "section-from-neighbours: 1 page(s), ids 8: section 'Part One: The Entrance Way' -> 3 "
         "(from glyph-marrow's page 7)",
         lambda c: c.page(8).section == 3 and c.page(8).page_id == "S03-P0008",
         entries=_set(7, section="Part One: The Entrance Way")),
    Case("page-index-ignored",
         Normalisation("page-index-ignored", f"{PAGES} id 002",
                       "pageIndex does not count pages within the section; the page number is the id"),
         "page-index-ignored: 1 page(s), ids 2: pageIndex does not count pages within the section; "
         "the page number is the id",
         lambda c: [p.number for p in c.pages][:3] == [1, 2, 3] and c.page(2).page_id == "S01-P0002",
         entries=_set(1, pageIndex=7)),
    Case("colour-from-symbols: pages.json",
         Normalisation("colour-from-symbols", f"{PAGES} id 004", f"color #FFB6C1 -> {LONDON.colour}"),
         f"colour-from-symbols: 1 page(s), ids 4: color #FFB6C1 -> {LONDON.colour}",
         lambda c: c.page(4).character.colour == LONDON.colour,
         entries=_set(3, color="#FFB6C1")),
    Case("colour-from-symbols: info.json",
         Normalisation("colour-from-symbols", "characters/glyph-marrow/info.json",
                       f"color #FFFFFF -> {GLYPH.colour}"),
         f"colour-from-symbols: characters/glyph-marrow/info.json: color #FFFFFF -> {GLYPH.colour}",
         lambda c: _character(c, "glyph-marrow").character.colour == GLYPH.colour,
         files=_info("glyph-marrow", color="#FFFFFF")),
    Case("character-alias: pages.json",
         Normalisation("character-alias", f"{PAGES} id 019", "'old-natalie-weissman' is 'old-natalie'"),
         "character-alias: 1 page(s), ids 19: 'old-natalie-weissman' is 'old-natalie'",
         lambda c: c.page(19).character.id == "old-natalie" and c.page(19).page_id == "S07-P0019",
         entries=_set(18, symbolId="old-natalie-weissman")),
    Case("character-alias: character_profiles.json",
         Normalisation("character-alias", PROFILES, "'new-natalie-weissman' is 'new-natalie'"),
         f"character-alias: {PROFILES}: 'new-natalie-weissman' is 'new-natalie'",
         lambda c: _character(c, "new-natalie").prompt_source == "character_profiles.json"
         and "keeps the second ledger" in _character(c, "new-natalie").system_prompt,
         files=_add_profile("new-natalie-weissman", {"brief_summary": "She keeps the second ledger."})),
    Case("profile-ignored",
         Normalisation("profile-ignored", PROFILES, "profile 'judy-s-cargot' is not one of the 16 characters"),
         f"profile-ignored: {PROFILES}: profile 'judy-s-cargot' is not one of the 16 characters",
         lambda c: [x.character for x in c.characters] == list(CHARACTERS)
         and all("Not in the book" not in x.system_prompt for x in c.characters),
         files=_add_profile("judy-s-cargot", {"brief_summary": "Not in the book."})),
    Case("page-count-recounted",
         Normalisation("page-count-recounted", "characters/princhetta/info.json",
                       f"pages 5 -> {PER_CHARACTER} in pages.json"),
         f"page-count-recounted: characters/princhetta/info.json: pages 5 -> {PER_CHARACTER} in pages.json",
         lambda c: sum(p.character.id == "princhetta" for p in c.pages) == PER_CHARACTER,
         files=_info("princhetta", pages=5)),
    Case("title-trimmed",
         Normalisation("title-trimmed", f"{PAGES} id 025", "whitespace trimmed"),
         "title-trimmed: 1 page(s), ids 25: whitespace trimmed",
         lambda c: c.page(25).title == page_entries(PER_CHARACTER)[24]["title"],
         entries=_pad_title(24)),
    Case("directory-ignored",
         Normalisation("directory-ignored", "characters/judy-s-cargot", "not one of the 16 characters"),
         "directory-ignored: characters/judy-s-cargot: not one of the 16 characters",
         lambda c: [x.character for x in c.characters] == list(CHARACTERS),
         files=_mkdir("characters/judy-s-cargot")),
    Case("directory-ignored: an older id's folder is not read",
         Normalisation("directory-ignored", "characters/old-natalie-weissman",
                       "an older id: only characters/old-natalie is read"),
         "directory-ignored: characters/old-natalie-weissman: an older id: only characters/old-natalie is read",
         lambda c: _character(c, "old-natalie").prompt_source == "default",
         files=_write("characters/old-natalie-weissman/first_principles.md", "# Old Natalie\n")),
]


def _build(root: Path, cases: list[Case]) -> Path:
    entries = page_entries(PER_CHARACTER)
    for case in cases:
        if case.entries:
            case.entries(entries)
    write_corpus(root, entries)
    for case in cases:
        if case.files:
            case.files(root)
    return root


def _printed_normalisations(root: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """What `gibsey ingest ROOT --dry-run` prints from its "normalisations:" line to the dry-run line."""
    assert cli.main(["ingest", str(root), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("normalisations:"))
    end = lines.index("dry run: corpus is valid; nothing written")
    return lines[start:end]


def test_every_documented_rule_has_a_case():
    """docs/CANON.md's table names each rule in backquotes; each one needs a case here."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "CANON.md").read_text()
    table = doc.split("## Normalisation rules", 1)[1].split("\n## ", 1)[0]
    documented = {row.split("`")[1] for row in table.splitlines() if row.startswith("| `")}
    assert documented == {case.record.rule for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_rule_alone_yields_its_value_one_record_and_one_line(tmp_path, case):
    corpus = load_corpus(_build(tmp_path, [case]))
    assert corpus.normalisations == (case.record,)
    assert summarise(corpus.normalisations) == [case.line]
    assert case.check(corpus), case.name


def test_the_cli_prints_one_line_per_rule_and_outcome(tmp_path, capsys):
    printed = _printed_normalisations(_build(tmp_path, CASES), capsys)
    assert printed[0] == f"normalisations: {len(CASES)}"
    assert printed[1:] == [f"  {line}" for line in sorted(case.line for case in CASES)]


def test_the_cli_says_none_for_a_clean_corpus(tmp_path, capsys):
    assert _printed_normalisations(_build(tmp_path, []), capsys) == ["normalisations: 0 (none)"]


def test_page_number_is_the_id_whatever_the_order_of_pages_json(tmp_path):
    """Rule `page number = id`: always applied, so it records nothing; the file order and names don't count."""
    entries = page_entries(PER_CHARACTER)
    for entry in entries:
        entry["filename"] = f"page-{len(entries) - int(entry['id']):02d}.md"  # names run the other way
    entries[4]["id"] = 5  # a number, not a string of digits
    corpus = load_corpus(write_corpus(tmp_path, list(reversed(entries))))
    assert [p.number for p in corpus.pages] == list(range(1, len(entries) + 1))
    assert corpus.page(5).page_id == "S02-P0005" and corpus.page(5).source.name == entries[4]["filename"]
    assert corpus.normalisations == ()


def test_a_title_of_only_whitespace_becomes_page_n(tmp_path):
    entries = page_entries(PER_CHARACTER)
    entries[24]["title"] = " \t "
    corpus = load_corpus(write_corpus(tmp_path, entries))
    assert corpus.page(25).title == "Page 25"
    assert corpus.normalisations == (Normalisation("title-trimmed", f"{PAGES} id 025", "whitespace trimmed"),)


def test_several_trimmed_titles_fold_into_one_line(tmp_path):
    entries = page_entries(PER_CHARACTER)
    for index in (24, 25, 26, 30):
        _pad_title(index)(entries)
    corpus = load_corpus(write_corpus(tmp_path, entries))
    assert summarise(corpus.normalisations) == ["title-trimmed: 4 page(s), ids 25–27, 31: whitespace trimmed"]


def test_neighbours_of_one_character_cannot_disagree(tmp_path):
    """Each character narrates exactly one section, so a page of hers with another numeric section is a
    problem, not a second neighbour to choose between: the corpus is refused and that page is named."""
    entries = page_entries(PER_CHARACTER)
    entries[7]["section"] = "Part One: The Entrance Way"  # glyph-marrow's middle page
    entries[8]["section"] = 4  # her next page claims phillip-bafflemint's section
    with pytest.raises(CorpusError) as info:
        load_corpus(write_corpus(tmp_path, entries))
    assert info.value.problems == [
        f"{PAGES} id 009: section 4 belongs to phillip-bafflemint, but symbolId is glyph-marrow"]
