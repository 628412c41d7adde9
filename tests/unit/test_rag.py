"""Quotes and Annoy shards (no model: vectors are made up here; the model is exercised in integration)."""

import threading

import numpy as np
import pytest

from shared.chat.grounding import CanonPageText, quote_around
from shared.rag.quotes import MAX_WORDS, page_label, split_long_sentence, split_quotes
from shared.rag.shards import ShardReader, build_shard, current_version
from shared.storage.vectors import QuoteRow


def test_quotes_are_short_verbatim_runs_of_sentences_with_locations():
    text = ("One. Two is here.\n\nThree comes after a break. Four. " + "Long " * 70 + "sentence ends here. Last one.")
    quotes = split_quotes(text, "p42")
    assert [q.loc for q in quotes] == [f"p42-{i}" for i in range(1, len(quotes) + 1)]
    assert quotes[0].text == "One. Two is here. Three comes after a break."
    assert all(len(q.text.split()) <= MAX_WORDS for q in quotes)
    flat = " ".join(text.split())
    assert all(q.text in flat for q in quotes)
    assert page_label("S03-P0042", 42) == "p42" and page_label("abc", None) == "pabc"


def _sentence(words: int, marks: dict[int, str]) -> str:
    return " ".join(f"W{i}{marks.get(i, '')}" for i in range(words)) + "."  # capitalised: a sentence start


def test_a_long_sentence_is_cut_at_clause_punctuation_into_verbatim_pieces():
    commas = {i: "," for i in range(9, 150, 10)}
    sentence = _sentence(150, {**commas, 109: ";"})
    text = f"Before it. {sentence} After it."
    quotes = split_quotes(text, "p7")
    pieces = [q.text for q in quotes[1:-1]]
    assert quotes[0].text == "Before it." and quotes[-1].text == "After it."  # the long one is not merged
    assert " ".join(pieces) == sentence and all(p in " ".join(text.split()) for p in pieces)
    assert all(len(p.split()) <= MAX_WORDS for p in pieces)
    assert pieces[0].endswith("W49,")  # the comma nearest an even cut (150 words: 3 x 50)
    assert pieces[1].endswith("W109;")  # a semicolon within reach beats a comma nearer the even length
    assert [q.loc for q in quotes] == [f"p7-{i}" for i in range(1, len(quotes) + 1)]


def test_a_long_sentence_without_punctuation_is_cut_evenly_and_never_into_scraps():
    assert [len(p.split()) for p in split_long_sentence(_sentence(61, {}))] == [30, 31]
    assert [len(p.split()) for p in split_long_sentence(_sentence(130, {}))] == [43, 43, 44]
    # a comma right at the start is too early to cut at: that piece would be a scrap of 3 words
    assert [len(p.split()) for p in split_long_sentence(_sentence(70, {2: ","}))] == [35, 35]
    assert split_long_sentence("Short enough.") == ["Short enough."]


def test_chat_grounding_finds_the_sentences_around_the_first_piece_of_a_long_sentence():
    sentence = _sentence(100, {i: "," for i in range(9, 100, 10)})
    page = CanonPageText("S01-P0001", 1, 1, "T", "an-author", f"{sentence} It ends. Then more.")
    first = split_quotes(page.text, "p1")[0]
    assert quote_around(page, first.text) == f"{sentence} It ends. Then more."


def test_chat_grounding_finds_the_sentences_around_a_later_piece_of_a_long_sentence():
    sentence = _sentence(100, {i: "," for i in range(9, 100, 10)})
    page = CanonPageText("S01-P0001", 1, 1, "T", "an-author", f"Before. {sentence} It ends. Then more.")
    second = split_quotes(page.text, "p1")[2]
    assert second.text in sentence and not sentence.startswith(second.text)
    assert quote_around(page, second.text) == f"{sentence} It ends. Then more."


def _rows(n, seed, page="S01-P0001"):
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [QuoteRow(page, f"p1-{i}", 1, "an-author", f"quote {i}", v.tolist()) for i, v in enumerate(vectors)]


def test_shard_search_finds_the_item_itself_and_scores_cosine(tmp_path):
    rows = _rows(50, 1)
    assert build_shard(tmp_path, 1, rows, trees=8) == 1
    reader = ShardReader(tmp_path)
    hits = reader.search(np.array(rows[7].embedding, dtype=np.float32), 3)
    assert hits[0].loc == "p1-7" and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert hits[0].section == 1 and hits[0].quote == "quote 7"
    assert all(h.score <= hits[0].score for h in hits)


def test_a_new_version_is_picked_up_without_a_restart_and_readers_never_fail(tmp_path):
    build_shard(tmp_path, 2, _rows(30, 2), trees=4)
    reader = ShardReader(tmp_path)
    probe = np.array(_rows(30, 2)[0].embedding, dtype=np.float32)
    failures = []

    def hammer():
        for _ in range(200):
            try:
                assert reader.search(probe, 1, sections=[2])
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                failures.append(exc)

    thread = threading.Thread(target=hammer)
    thread.start()
    for seed in range(3, 8):
        build_shard(tmp_path, 2, _rows(30, 2) + _rows(5, seed, page="S02-P0009"), trees=4)
    thread.join()
    assert failures == []
    assert current_version(tmp_path, 2) == 6
    assert reader.versions() == {2: 6}
    assert len(list(tmp_path.glob("section-02.v*.ann"))) == 2  # older versions are cleaned up


def test_an_empty_section_is_searchable(tmp_path):
    build_shard(tmp_path, 5, [], trees=4)
    assert ShardReader(tmp_path).search(np.ones(384, dtype=np.float32), 3) == []


def test_two_writers_of_one_section_take_turns(tmp_path):
    errors = []

    def build(seed):
        for i in range(15):
            try:
                build_shard(tmp_path, 4, _rows(5, seed + i), trees=2)
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                errors.append(exc)

    threads = [threading.Thread(target=build, args=(s * 100,)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and current_version(tmp_path, 4) == 30
    assert ShardReader(tmp_path).search(np.ones(384, dtype=np.float32), 1, sections=[4])
