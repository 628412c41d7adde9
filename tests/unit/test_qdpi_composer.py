"""The canon composer: deterministic, grounded only in the pages it is given, shaped by trajectory and
behaviour, within max_words."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from shared.qdpi.composer import FRAME_CLOSE, FRAME_OPEN, GENERATOR, compose_from_canon, split_sentences
from shared.qdpi.contract import GenerationRequest, SourcePage
from shared.symbols import BEHAVIOURS, Orientation, Trajectory, encode, symbol

REPO = Path(__file__).resolve().parents[2]
FOX = 1  # character index of London Fox (section 2)

SEED = SourcePage("S02-P0008", "The Seed", (
    "She keeps the seed in a sealed envelope taped under the drawer.\n\n"
    "Every night she reads it aloud to the machine. Every night the machine builds the same gate. "
    "She calls this a control, because that is the word the grant proposal used."
), 2, "london-fox")
LOCUS = SourcePage("S02-P0010", "The Counter", (
    "The counter is white, and she intends to keep it that way.\n\n"
    "She wipes it twice before she sits down. \"Nothing in the wiring,\" she says to the empty kitchen. "
    "The lantern over the sink hums at a pitch she has stopped hearing.\n\n"
    "At two in the morning the screen offers her a turnstile. She does not look away."
), 2, "london-fox")
BOOTH = SourcePage("S02-P0011", "The Lantern Booth", (
    "The park has a booth that sells only lanterns. Nobody staffs it.\n\n"
    "A sign on the booth says PAY WHAT THE DARK IS WORTH. She laughs, once, and then she checks the logs. "
    "The logs say the booth was her idea."
), 2, "london-fox")
NIGHT = SourcePage("S02-P0012", "Night Shift", (
    "By four the monorail runs in a perfect circle. The lantern light follows it around.\n\n"
    "She writes down everything the machine makes, in a notebook with a red spine. "
    "The notebook fills faster than she can read it."
), 2, "london-fox")
CONTEXT = (SEED, BOOTH, NIGHT)
ALL_PAGES = (LOCUS,) + CONTEXT


def request_for(code: int = encode(FOX, 12), trajectory: Trajectory = Trajectory.CONTINUE, event_id: str = "ev-1",
                locus: SourcePage | None = LOCUS, context: tuple[SourcePage, ...] = CONTEXT, intent: str = "",
                max_words: int = 220) -> GenerationRequest:
    sym = symbol(code)
    return GenerationRequest(event_id, sym, sym.character, "You are London Fox.", trajectory, locus, context,
                             intent, max_words)


def _paragraphs(text: str) -> list[str]:
    return [p for p in text.split("\n\n") if p]


def _is_frame(paragraph: str) -> bool:
    return paragraph.startswith(FRAME_OPEN) and paragraph.endswith(FRAME_CLOSE)


def _canon_sentences(text: str) -> list[str]:
    return [s for p in _paragraphs(text) if not _is_frame(p) for s in split_sentences(p)]


ALL_COMBINATIONS = [(b.index, t) for b in BEHAVIOURS for t in Trajectory]


@pytest.mark.parametrize("behaviour,trajectory", ALL_COMBINATIONS)
def test_same_request_gives_the_same_page(behaviour: int, trajectory: Trajectory) -> None:
    request = request_for(encode(FOX, behaviour), trajectory, intent="what does the lantern cost")
    assert compose_from_canon(request) == compose_from_canon(request)


@pytest.mark.parametrize("orientation", list(Orientation))
def test_different_event_ids_usually_select_differently(orientation: Orientation) -> None:
    behaviour = next(b.index for b in BEHAVIOURS if b.orientation is orientation)
    texts = {compose_from_canon(request_for(encode(FOX, behaviour), event_id=f"ev-{i}", max_words=40)).text
             for i in range(8)}
    assert len(texts) > 1


def test_output_is_byte_identical_across_processes() -> None:
    """No set or dict ordering leaks into the page: two interpreters with different hash seeds agree."""
    script = (
        "import json; from dataclasses import asdict; from shared.symbols import Trajectory;"
        "from shared.qdpi.composer import compose_from_canon; from tests.unit.test_qdpi_composer import request_for;"
        "print(json.dumps([asdict(compose_from_canon(request_for(c, t, intent='the lantern')))"
        " for c in (0x10, 0x15, 0x1A, 0x1F) for t in Trajectory]))"
    )
    outputs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(REPO)}
        run = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, check=True)
        outputs.append(run.stdout)
    assert outputs[0] == outputs[1]
    here = [asdict(compose_from_canon(request_for(c, t, intent="the lantern")))
            for c in (0x10, 0x15, 0x1A, 0x1F) for t in Trajectory]
    assert json.loads(outputs[0]) == here


@pytest.mark.parametrize("max_words", [220, 40])
@pytest.mark.parametrize("behaviour,trajectory", ALL_COMBINATIONS)
def test_every_sentence_comes_from_canon(behaviour: int, trajectory: Trajectory, max_words: int) -> None:
    request = request_for(encode(FOX, behaviour), trajectory, intent="why a booth for lanterns", max_words=max_words)
    page = compose_from_canon(request)
    sources = " ".join(p.text for p in ALL_PAGES)
    assert page.generator == GENERATOR
    for sentence in _canon_sentences(page.text):
        assert sentence in sources, sentence
    frames = [p for p in _paragraphs(page.text) if _is_frame(p)]
    if request.symbol.orientation in (Orientation.INDEX, Orientation.ASK):
        assert len(frames) <= 1 and (not frames or _paragraphs(page.text)[0] == frames[0])
    else:
        assert frames == []


@pytest.mark.parametrize("max_words", [1, 5, 12, 40, 220])
@pytest.mark.parametrize("behaviour,trajectory", ALL_COMBINATIONS)
def test_respects_max_words(behaviour: int, trajectory: Trajectory, max_words: int) -> None:
    page = compose_from_canon(request_for(encode(FOX, behaviour), trajectory, intent="lanterns", max_words=max_words))
    assert page.text.strip()
    assert len(page.text.split()) <= max_words
    assert page.style_ok


def _first_sentence(page: SourcePage) -> str:
    return split_sentences(page.text)[0]


def test_t0_continues_from_the_end_of_the_locus() -> None:
    page = compose_from_canon(request_for(encode(FOX, 0), Trajectory.CONTINUE))
    assert page.text.startswith(split_sentences(LOCUS.text)[-1])
    assert page.title == "After The Counter"


def test_t1_returns_to_an_earlier_pages_opening() -> None:
    page = compose_from_canon(request_for(encode(FOX, 12), Trajectory.LOOP_BACK))
    assert page.text.startswith(_first_sentence(SEED))  # the only context page before the locus
    assert page.title == "Back to The Seed"


def test_t2_forks_into_the_context_and_leaves_the_locus() -> None:
    locus_sentences = set(split_sentences(LOCUS.text))
    for i in range(6):
        page = compose_from_canon(request_for(encode(FOX, 13), Trajectory.FORK, event_id=f"ev-{i}"))
        assert page.title.startswith("Fork: ")
        assert not locus_sentences & set(_canon_sentences(page.text))
        assert LOCUS.page_id not in page.notes["sources"]


def test_t3_returns_home_to_the_locus() -> None:
    page = compose_from_canon(request_for(encode(FOX, 0), Trajectory.RETURN))
    assert page.text.endswith(_first_sentence(LOCUS))
    assert page.title == "Return to The Counter"


def test_index_lists_motifs_taken_from_the_sources() -> None:
    page = compose_from_canon(request_for(encode(FOX, 4)))
    frame = _paragraphs(page.text)[0]
    assert frame.startswith("[Index: ")
    motifs = frame[len("[Index: "):-1].split(" · ")
    assert 1 <= len(motifs) <= 4
    vocabulary = " ".join(p.text for p in ALL_PAGES).lower()
    assert all(m in vocabulary for m in motifs)
    assert "lantern" in motifs  # the most frequent content word of these pages


def test_ask_frames_the_readers_question() -> None:
    page = compose_from_canon(request_for(encode(FOX, 10), intent="  who pays for the lanterns?  "))
    assert _paragraphs(page.text)[0] == "[London Fox asks: who pays for the lanterns?]"
    neutral = compose_from_canon(request_for(encode(FOX, 10)))
    assert _paragraphs(neutral.text)[0] == "[London Fox asks what the canon holds.]"


def test_user_provenance_follows_the_readers_words() -> None:
    page = compose_from_canon(request_for(encode(FOX, 14), Trajectory.FORK, intent="notebook spine", max_words=30))
    assert "notebook" in page.text


def test_locus_only_request_still_draws_on_the_locus() -> None:
    for trajectory in Trajectory:
        page = compose_from_canon(request_for(trajectory=trajectory, context=()))
        assert page.text and all(s in LOCUS.text for s in _canon_sentences(page.text))


def test_empty_request_names_character_and_section() -> None:
    page = compose_from_canon(request_for(locus=None, context=()))
    assert page.text == "[London Fox, section 2: no canon page was available to draw on.]"
    assert page.title == "London Fox, section 2"
    assert page.generator == GENERATOR and page.continuity_score == 0.0
    assert len(compose_from_canon(request_for(locus=None, context=(), max_words=3)).text.split()) == 3


def test_notes_say_what_was_used() -> None:
    page = compose_from_canon(request_for(encode(FOX, 12), Trajectory.CONTINUE))
    assert page.notes["trajectory"] == "T0" and page.notes["behaviour"] == "ZC"
    used = set(page.notes["sources"].split(","))
    assert used <= {p.page_id for p in ALL_PAGES} and LOCUS.page_id in used
    assert page.continuity_score == 1.0
