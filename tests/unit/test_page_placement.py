"""The page generator's placement over an in-memory store: the chooser reads the branch's continuity, a fork
needs a fork slot, a return lists every branch it brings home, a placement survives a JSON round trip.
(The Cassandra side, conditional writes included, is tested live in tests/integration/test_branches.py.)"""

from functions.page_generator.generate import Placement, continuity_of, forks_on_the_way_home, place
from shared.qdpi.policy import SectionCounters
from shared.storage.pipeline import StoredPage
from shared.symbols import Trajectory

ROOT_TEXT = ("The lighthouse keeper counted gulls along the harbour wall. The ferry waited for the tide, "
             "and the keeper wrote the count in his ledger.")
GROUNDED = "The keeper counted the gulls again; the ferry still waited on the harbour wall for the tide."
DRIFTED = "Saturn's moons orbit beyond asteroid belts, silent satellites spinning through cosmic darkness."


def _page(page_id, text, *, num=None, depth=0, root=None, return_to=None, trajectory="T0"):
    return StoredPage(page_id, num, page_id, text, 3, 2, 0x20, trajectory, return_to, root, depth)


class Slots:
    def __init__(self, free: int):
        self.free, self.claimed = free, []

    def claim_fork_slot(self, section, page_id):
        if self.free == 0:
            return None
        self.free -= 1
        self.claimed.append(page_id)
        return len(self.claimed) - 1


class Book:
    """A canon page with a three-page branch grown from it: fork F (depth 1), B2 (2), B3 (3)."""

    def __init__(self, b2_text=GROUNDED, free_slots=2):
        self.pages = {p.page_id: p for p in [
            _page("S03-P0007", ROOT_TEXT, num=7),
            _page("S03-P0008", "The tide turned.", num=8),
            _page("F", GROUNDED, depth=1, root="S03-P0007", return_to="S03-P0007", trajectory="T2"),
            _page("B2", b2_text, depth=2, root="S03-P0007", return_to="F"),
            _page("B3", GROUNDED, depth=3, root="S03-P0007", return_to="B2"),
        ]}
        self.branches = Slots(free_slots)

    def page(self, page_id):
        return self.pages.get(page_id)

    def counters(self, section):
        return SectionCounters()

    def edges(self, page_id):
        return {"NEXT": ["S03-P0008"]} if page_id == "S03-P0007" else {}


def test_a_grounded_branch_page_continues_inside_its_branch():
    book = Book()
    placed = place("new", Trajectory.CONTINUE, book.page("B2"), [book.page("F"), book.page("S03-P0007")], book, 3)
    assert placed.trajectory is Trajectory.CONTINUE and placed.branch_depth == 3
    assert placed.continuity == continuity_of(book.page("B2"), [book.page("F"), book.page("S03-P0007")], book)
    assert placed.continuity >= 0.5


def test_a_drifted_branch_page_is_brought_home_by_its_continuity_score():
    book = Book(b2_text=DRIFTED)
    context = [book.page("F"), book.page("S03-P0007")]
    placed = place("new", Trajectory.CONTINUE, book.page("B2"), context, book, 3)
    assert placed.continuity == 0.0
    assert placed.trajectory is Trajectory.LOOP_BACK and placed.reason.startswith("T3 return -> T1: continuity")
    assert placed.edges == (("B2", "MIRROR", "new"), ("new", "LOOP", "S03-P0007"))
    assert (placed.branch_root, placed.branch_depth, placed.closes) == (None, 0, ("F",))
    assert placed.counter_deltas == {"pages_generated": 1}  # the -1s move once per branch, on close


def test_the_continuity_reads_the_branch_root_even_when_the_context_does_not_hold_it():
    book = Book(b2_text=DRIFTED)
    assert continuity_of(book.page("B2"), [], book) == 0.0
    assert continuity_of(book.page("S03-P0007"), [], book) is None  # canon: not in a branch


def test_a_return_closes_every_fork_on_its_way_home_nearest_first():
    book = Book()
    assert forks_on_the_way_home(book.page("B3"), book) == ("F",)
    book.pages["B2"] = _page("B2", GROUNDED, depth=2, root="S03-P0007", return_to="F", trajectory="T2")
    assert forks_on_the_way_home(book.page("B3"), book) == ("B2", "F")
    assert forks_on_the_way_home(book.page("S03-P0007"), book) == ()
    placed = place("home", Trajectory.FORK, book.page("B3"), [book.page("B2")], book, 3)
    assert placed.trajectory is Trajectory.LOOP_BACK and "must return" in placed.reason
    assert placed.closes == ("B2", "F") and book.branches.claimed == []  # a forced return takes no slot


def test_a_fork_takes_a_slot_and_is_refused_when_none_is_free():
    book = Book(free_slots=1)
    first = place("fork-1", Trajectory.FORK, book.page("S03-P0007"), [], book, 3)
    assert (first.trajectory, first.fork_slot, first.edges) == (Trajectory.FORK, 0,
                                                                (("S03-P0007", "FORK", "fork-1"),))
    assert first.counter_deltas == {"pages_generated": 1, "open_branches": 1, "return_debt": 1}
    second = place("fork-2", Trajectory.FORK, book.page("S03-P0007"), [], book, 3)  # counters still read 0
    assert second.trajectory is Trajectory.CONTINUE and "fork slots of section 3" in second.reason
    assert second.edges == (("S03-P0007", "MIRROR", "fork-2"), ("fork-2", "NEXT", "S03-P0008"))
    assert second.fork_slot is None and second.counter_deltas == {"pages_generated": 1}


def test_a_placement_survives_being_stored_as_json():
    import json

    book = Book(b2_text=DRIFTED)
    placed = place("new", Trajectory.CONTINUE, book.page("B2"), [book.page("F")], book, 3)
    assert Placement.from_dict(json.loads(json.dumps(placed.to_dict()))) == placed
