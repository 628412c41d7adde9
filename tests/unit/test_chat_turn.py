"""Chat turns with in-memory collaborators: grounding, composer fallback, LLM streaming, refunds."""

import asyncio

import pytest

from shared.chat.grounding import CanonPageText, quote_around, verified_citations
from shared.chat.request import parse_chat_request
from shared.chat.turn import OWN_PAGE_BONUS, ChatTurn, UnknownCharacter
from shared.ledger.errors import InsufficientCredits
from shared.events import EventValidationError
from shared.rag.quotes import split_quotes
from shared.qdpi.lm import LMUnavailable
from shared.storage.chat import Persona, Turn

TOWER = CanonPageText("S11-P0440", 440, 11, "The Tower", "arieol-owlist",
                      "Arieol looked up. The tower leaned toward him like a question. He climbed because the "
                      "stairs asked him to. Nobody else heard them.")
CAVE = CanonPageText("S02-P0010", 10, 2, "Caves", "london-fox", "London walked into the cave. It was cold.")


def _request(**overrides):
    body = {"session_id": "s-1", "user_id": "u-1", "char_id": "arieol-owlist",
            "message": "Why did you climb the tower?", "request_id": "r-1", **overrides}
    return parse_chat_request(body)


class FakeStore:
    def __init__(self):
        self.pages = {p.page_id: p for p in (TOWER, CAVE)}
        self.exchanges = []

    async def persona(self, char_id):
        return Persona(char_id, "Arieol Owlist", "#3366FF", "You are Arieol.") if char_id == "arieol-owlist" else None

    async def canon_pages(self, page_ids):
        return {self.pages[p].page_number: self.pages[p] for p in page_ids if p in self.pages}

    async def cluster_note(self, page_id):
        return {"cluster_id": 3, "run_id": "r", "keywords": ["tower"], "summary": "Pages about climbing."} \
            if page_id == "S11-P0440" else None

    async def recent_turns(self, session_id, char_id, limit):
        return [Turn("user", "hello"), Turn("assistant", "hi")]

    async def add_exchange(self, *args):
        self.exchanges.append(args)


class FakeLedger:
    def __init__(self, balance=20):
        self.balance, self.refunds = balance, []

    async def debit(self, user_id, amount, request_id, reason, session_id):
        if self.balance < amount:
            return {"ok": False, "needed": amount, "available": self.balance, "balance": self.balance, "charged": False}
        self.balance -= amount
        return {"ok": True, "balance": self.balance, "charged": True, "needed": amount, "available": self.balance}

    async def refund(self, request_id, reason):
        self.refunds.append(request_id)
        self.balance += 5
        return {"refunded": True, "balance": self.balance}


class FakeMemory:
    def __init__(self, hits=None):
        self.hits = hits if hits is not None else [
            {"page_id": "S11-P0440", "page_number": 440, "loc": "p440-1", "character": "arieol-owlist",
             "quote": "The tower leaned toward him like a question.", "score": 0.6}]
        self.calls = []

    async def recall(self, query, k, character):
        self.calls.append(character)
        return self.hits, self.hits


class ScriptedModel:
    name = "llm:test"

    def __init__(self, pieces, fail_after=None):
        self.pieces, self.fail_after, self.messages = pieces, fail_after, None

    async def stream(self, messages):
        self.messages = messages
        for i, piece in enumerate(self.pieces):
            if self.fail_after is not None and i == self.fail_after:
                raise LMUnavailable("connection-lost", "went away")
            yield piece


def _run(turn, request):
    async def go():
        paid = await turn.begin(request)
        return [event async for event in turn.events(request, paid)]
    return asyncio.run(go())


def test_quote_around_extends_a_retrieved_fragment_to_two_sentences():
    assert quote_around(TOWER, "The tower leaned toward him like a question.") == (
        "The tower leaned toward him like a question. He climbed because the stairs asked him to. "
        "Nobody else heard them.")
    assert quote_around(CAVE, "It was cold.") == "London walked into the cave. It was cold."
    assert quote_around(CAVE, "Not on the page.") is None


def test_only_verbatim_runs_of_two_sentences_with_the_right_page_verify():
    pages = {440: TOWER, 10: CAVE}
    good = "I recall: “The tower leaned toward him like a question. He climbed because the stairs asked him to.” (p.440)"
    assert [c.page_number for c in verified_citations(good, pages)] == [440]
    assert verified_citations("“The tower leaned toward him like a question.” (p.440)", pages) == []  # one sentence
    assert verified_citations("“The tower leaned toward him. He climbed.” (p.440)", pages) == []  # not verbatim
    assert verified_citations(good.replace("(p.440)", "(p.10)"), pages) == []  # wrong page


def test_a_quote_ending_in_dialogue_keeps_its_closing_quote_mark():
    page = CanonPageText("S05-P0255", 255, 5, "T", "jacklyn-variance", 'He stood. "Your mother is gone." Then rain.')
    answer = 'Listen: “He stood. "Your mother is gone."” (p.255)'
    assert [c.quote for c in verified_citations(answer, {255: page})] == ['He stood. "Your mother is gone."']


def test_without_an_llm_the_composer_answers_with_a_verified_quote_and_context():
    store, ledger = FakeStore(), FakeLedger()
    events = _run(ChatTurn(store, ledger, FakeMemory(), None, cost=5), _request())
    names = [e.name for e in events]
    assert names[-1] == "done" and "citation" in names and names.count("token") > 5
    done = events[-1].data
    assert done["generator"] == "canon-composer" and done["credits_left"] == 15
    assert "(p.440)" in done["answer"] and "section 11" in done["answer"] and "The Tower" in done["answer"]
    assert verified_citations(done["answer"], {440: TOWER})
    assert "".join(e.data["token"] for e in events if e.name == "token") == done["answer"]
    assert all(e.data["color"] == "#3366FF" for e in events if e.name == "token")
    assert store.exchanges and store.exchanges[0][3] == done["answer"]


def test_an_llm_answer_without_a_verified_quote_gets_the_best_retrieved_one():
    model = ScriptedModel(["I climbed ", "because I had to."])
    events = _run(ChatTurn(FakeStore(), FakeLedger(), FakeMemory(), model, cost=5), _request())
    done = events[-1].data
    assert done["generator"] == "llm:test"
    assert done["answer"].startswith("I climbed because I had to.")
    assert done["citations"][0]["page_number"] == 440 and "(p.440)" in done["answer"]
    assert model.messages[0]["role"] == "system" and "(p.440)" in model.messages[0]["content"]
    assert "Pages about climbing." in model.messages[0]["content"]  # the nightly note on the passage's cluster
    assert done["book_note"] == {"cluster_id": 3, "run_id": "r", "keywords": ["tower"]}
    assert [m["role"] for m in model.messages[1:]] == ["user", "assistant", "user"]


def test_an_llm_failure_before_the_first_token_falls_back_to_the_composer():
    model = ScriptedModel(["never"], fail_after=0)
    ledger = FakeLedger()
    events = _run(ChatTurn(FakeStore(), ledger, FakeMemory(), model, cost=5), _request())
    assert events[-1].name == "done" and events[-1].data["generator"] == "canon-composer"
    assert ledger.refunds == []


def test_an_llm_failure_mid_stream_ends_with_error_and_refunds():
    ledger, store = FakeLedger(), FakeStore()
    events = _run(ChatTurn(store, ledger, FakeMemory(), ScriptedModel(["I ", "climbed", "..."], fail_after=2),
                           cost=5), _request())
    assert [e.name for e in events] == ["token", "token", "error"]
    assert events[-1].data["refunded"] is True and ledger.refunds == ["r-1"] and ledger.balance == 20
    assert store.exchanges == []


def test_no_passage_means_error_and_refund():
    ledger = FakeLedger()
    events = _run(ChatTurn(FakeStore(), ledger, FakeMemory(hits=[]), None, cost=5), _request())
    assert [e.name for e in events] == ["error"] and ledger.refunds == ["r-1"]


def test_short_of_credits_or_unknown_character_fail_before_any_work():
    memory = FakeMemory()
    with pytest.raises(InsufficientCredits) as info:
        _run(ChatTurn(FakeStore(), FakeLedger(balance=3), memory, None, cost=5), _request())
    assert (info.value.needed, info.value.available) == (5, 3) and memory.calls == []
    with pytest.raises(UnknownCharacter):
        _run(ChatTurn(FakeStore(), FakeLedger(), memory, None, cost=5), _request(char_id="london-fox"))


class ScopedMemory(FakeMemory):
    async def recall(self, query, k, character):
        self.calls.append(character)
        cave = {"page_id": "S02-P0010", "page_number": 10, "loc": "p10-1", "character": "london-fox",
                "quote": "It was cold.", "score": self.book_score}
        return self.hits, [cave, *self.hits]


@pytest.mark.parametrize("book_score, cited, frame", [
    (0.7, 440, "I can only answer with what the book keeps of me"),  # own page, a little weaker: still first
    (0.95, 10, "the book answers that elsewhere"),  # the book's passage is clearly better
])
def test_own_pages_are_favoured_over_the_book_unless_it_is_clearly_better(book_score, cited, frame):
    memory = ScopedMemory()
    memory.book_score = book_score
    events = _run(ChatTurn(FakeStore(), FakeLedger(), memory, None, cost=5), _request())
    assert memory.calls == ["arieol-owlist"]  # one recall: own pages and the book together
    assert events[-1].data["citations"][0]["page_number"] == cited
    assert frame in events[-1].data["answer"]


@pytest.mark.parametrize("change, problem", [
    ({"char_id": "nobody"}, "char_id"),
    ({"message": "   "}, "message"),
    ({"message": "x" * 2001}, "message"),
    ({"session_id": None}, "session_id"),
    ({"request_id": "has space"}, "request_id"),
])
def test_bad_requests_name_the_field(change, problem):
    with pytest.raises(EventValidationError) as info:
        _request(**change)
    assert any(p.startswith(problem) for p in info.value.problems), info.value.problems


class BrokenModel(ScriptedModel):
    async def stream(self, messages):
        yield "I "
        raise RuntimeError("an unforeseen failure in the LLM path")


class ForgetfulStore(FakeStore):
    async def add_exchange(self, *args):
        raise ConnectionError("Cassandra went away")


def test_any_failure_after_the_first_token_refunds_and_a_lost_turn_record_still_answers():
    ledger = FakeLedger()
    events = _run(ChatTurn(FakeStore(), ledger, FakeMemory(), BrokenModel([]), cost=5), _request())
    assert [e.name for e in events] == ["token", "error"] and ledger.refunds == ["r-1"]
    events = _run(ChatTurn(ForgetfulStore(), FakeLedger(), FakeMemory(), None, cost=5), _request())
    assert events[-1].name == "done" and "(p.440)" in events[-1].data["answer"]


@pytest.mark.parametrize("page_id, cited", [(None, 440), ("S02-P0010", 10)])
def test_the_page_the_reader_has_open_is_favoured_a_little(page_id, cited):
    memory = ScopedMemory()
    memory.book_score = 0.55 + OWN_PAGE_BONUS  # a touch below the own page with its bonus (0.6 + 0.2)
    events = _run(ChatTurn(FakeStore(), FakeLedger(), memory, None, cost=5), _request(page_id=page_id))
    assert events[-1].data["citations"][0]["page_number"] == cited


def test_a_citation_found_in_an_answer_names_its_place_like_a_retrieved_one():
    sentences = [f"Sentence {n} of the long page goes on with " + " ".join(["words"] * 20) + "." for n in range(1, 7)]
    page = CanonPageText("S01-P0009", 9, 1, "T", "an-author", " ".join(sentences))
    pieces = split_quotes(page.text, "p9")
    second = next(q for q in pieces if q.loc == "p9-2")
    start = next(i for i, s in enumerate(sentences) if second.text.startswith(s))
    answer = "As written: “" + " ".join(sentences[start:start + 2]) + "” (p.9)"
    assert [c.loc for c in verified_citations(answer, {9: page})] == ["p9-2"]
