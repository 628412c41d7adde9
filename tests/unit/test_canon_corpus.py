import json
from pathlib import Path

import pytest

from shared.canon import CorpusError, load_corpus
from shared.canon.report import fold_ranges, summarise
from tests.corpus_builder import page_entries, write_corpus

REPO = Path(__file__).resolve().parents[2]


def _problems(root: Path) -> list[str]:
    with pytest.raises(CorpusError) as info:
        load_corpus(root)
    return info.value.problems


def test_a_clean_corpus_loads_in_page_order_with_canon_ids(tmp_path):
    corpus = load_corpus(write_corpus(tmp_path))
    assert len(corpus.pages) == 32
    assert [p.number for p in corpus.pages] == list(range(1, 33))
    assert corpus.page(5).page_id == "S03-P0005"
    assert corpus.next_number(32) == 1
    assert corpus.normalisations == ()
    assert [c.character.id for c in corpus.characters][:2] == ["an-author", "london-fox"]
    assert corpus.characters[0].prompt_source == "default"


def test_text_section_at_the_start_of_a_run_uses_the_next_page(tmp_path):
    entries = page_entries(per_character=2)
    entries[2]["section"] = "Part One"  # London Fox's first page: no earlier page of hers
    corpus = load_corpus(write_corpus(tmp_path, entries))
    assert corpus.page(3).section == 2
    [note] = corpus.normalisations
    assert note.detail == "section 'Part One' -> 2 (from london-fox's page 4)"


def test_unresolvable_text_section_is_a_problem(tmp_path):
    entries = page_entries(per_character=1)
    entries[3]["section"] = "Somewhere"
    assert any("id 004: section 'Somewhere' is not a number" in p for p in _problems(write_corpus(tmp_path, entries)))


def test_restarting_page_index_alias_and_colour_are_normalised_and_reported(tmp_path):
    entries = page_entries(per_character=2)
    entries[1]["pageIndex"] = 1  # restarts inside section 1
    entries[12]["symbolId"] = "old-natalie-weissman"
    entries[0]["color"] = "#FFFFFF"
    corpus = load_corpus(write_corpus(tmp_path, entries))
    rules = {n.rule for n in corpus.normalisations}
    assert {"page-index-ignored", "character-alias", "colour-from-symbols"} <= rules
    assert corpus.page(13).character.id == "old-natalie"
    lines = summarise(corpus.normalisations)
    assert "page-index-ignored: 1 page(s), ids 2: pageIndex does not count pages within the section; " \
           "the page number is the id" in lines


def test_profiles_give_prompts_and_unknown_profiles_are_noted(tmp_path):
    root = write_corpus(tmp_path)
    (root / "metadata" / "character_profiles.json").write_text(json.dumps({"characters": {
        "jack-parlance": {"brief_summary": "A man who narrates his own parlance.", "personality_traits": ["wry"]},
        "someone-else": {"brief_summary": "Not in the book."}}}))
    (root / "characters" / "london-fox" / "first_principles.md").write_text("# London Fox\nControl invites chaos.\n")
    corpus = load_corpus(root)
    by_id = {c.character.id: c for c in corpus.characters}
    assert by_id["london-fox"].prompt_source == "first_principles.md"
    assert by_id["london-fox"].system_prompt.startswith("# London Fox")
    assert by_id["jack-parlance"].prompt_source == "character_profiles.json"
    assert "narrates his own parlance" in by_id["jack-parlance"].system_prompt
    assert by_id["the-author"].prompt_source == "default"
    assert any(n.rule == "profile-ignored" and "someone-else" in n.detail for n in corpus.normalisations)


# -- bad input: every problem is named, with its file ------------------------------------------------------


def test_missing_page_file_is_named(tmp_path):
    entries = page_entries(per_character=1)
    root = write_corpus(tmp_path, entries, texts={entries[6]["filename"]: None})
    assert f"pages/{entries[6]['filename']}: missing (named by metadata/pages.json id 007)" in _problems(root)


def test_unreadable_json_is_named(tmp_path):
    root = write_corpus(tmp_path)
    (root / "metadata" / "pages.json").write_text('[{"id": "001",')
    assert _problems(root)[0].startswith("metadata/pages.json: unreadable JSON")
    (root / "metadata" / "pages.json").write_text(json.dumps(page_entries()))
    (root / "characters" / "princhetta" / "info.json").write_text("{nope}")
    assert _problems(root)[0].startswith("characters/princhetta/info.json: unreadable JSON")


def test_duplicate_id_names_both_files(tmp_path):
    entries = page_entries(per_character=1)
    entries.append({**entries[3], "filename": "099-again.md"})
    problems = _problems(write_corpus(tmp_path, entries))
    assert any("duplicate id '004'" in p and "004-phillip-bafflemint.md" in p and "099-again.md" in p
               for p in problems)


def test_empty_page_is_named(tmp_path):
    entries = page_entries(per_character=1)
    root = write_corpus(tmp_path, entries, texts={entries[9]["filename"]: "  \n\n"})
    assert f"pages/{entries[9]['filename']}: empty page (metadata/pages.json id 010)" in _problems(root)


def test_every_problem_is_reported_in_one_run(tmp_path):
    entries = page_entries(per_character=1)
    entries.append({**entries[0], "filename": "017-dup.md"})
    root = write_corpus(tmp_path, entries, texts={entries[1]["filename"]: None, entries[2]["filename"]: ""})
    problems = _problems(root)
    assert len(problems) == 3, problems


@pytest.mark.parametrize("change, message", [
    (lambda e: e[0].pop("filename"), "missing filename"),
    (lambda e: e[0].update(id="first"), "is not a positive page number"),
    (lambda e: e[0].update(symbolId="nobody"), "unknown character id 'nobody'"),
    (lambda e: e[0].update(title=None), "(id '001'): title None is not text"),
    (lambda e: e[0].update(title=1984), "(id '001'): title 1984 is not text"),
    (lambda e: e[0].update(section=5), "section 5 belongs to jacklyn-variance, but symbolId is an-author"),
    (lambda e: e[0].update(filename="../../etc/passwd.md"), "must be a .md file inside pages/"),
    (lambda e: e.pop(3), "page ids must run 1..N without gaps; missing 4"),
])
def test_malformed_metadata_is_refused(tmp_path, change, message):
    entries = page_entries(per_character=1)
    change(entries)
    assert any(message in p for p in _problems(write_corpus(tmp_path, entries))), message


def test_not_a_corpus(tmp_path):
    assert "not a Gibsey corpus" in _problems(tmp_path)[0]


def test_fold_ranges():
    assert fold_ranges([3, 1, 2, 7, 9, 10]) == "1–3, 7, 9–10"
    assert fold_ranges([]) == ""


def test_the_shipped_demo_corpus_loads():
    corpus = load_corpus(REPO / "corpus" / "demo")
    assert {p.character.id for p in corpus.pages} == {c.character.id for c in corpus.characters}
    assert len(corpus.pages) >= 16
    assert any(n.rule == "section-from-neighbours" for n in corpus.normalisations)


# -- section notes ------------------------------------------------------------------------------------------


def _write_notes(root: Path, sections: object) -> None:
    (root / "metadata" / "section_summaries.json").write_text(json.dumps({"sections": sections}))


def test_section_notes_take_prose_and_lists_but_not_key_plot_points(tmp_path):
    root = write_corpus(tmp_path)
    _write_notes(root, {"3": {"summary": "A detective  loses\nwords.", "key_plot_points": ["Verbatim eval line"],
                              "mystical_elements": ["Spirals", " "], "title": ""}})
    notes = load_corpus(root).section_notes
    assert [(n.section, n.key, n.body) for n in notes] == [
        (3, "mystical_elements.1", "Spirals"), (3, "summary", "A detective loses words.")]


def test_section_notes_are_optional(tmp_path):
    assert load_corpus(write_corpus(tmp_path)).section_notes == ()


@pytest.mark.parametrize("sections, message", [
    ({"17": {"summary": "x"}}, "section key '17' is not 1..16"),
    ({"2": "a string"}, "section 2 is not an object"),
    (["not", "an", "object"], 'expected an object with a "sections" object'),
])
def test_malformed_section_notes_are_named(tmp_path, sections, message):
    root = write_corpus(tmp_path)
    _write_notes(root, sections)
    assert any(p.startswith("metadata/section_summaries.json") and message in p for p in _problems(root))


def test_the_demo_corpus_has_notes_for_every_section():
    assert {n.section for n in load_corpus(REPO / "corpus" / "demo").section_notes} == set(range(1, 17))
