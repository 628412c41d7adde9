"""The branching policy: how far the book may wander from the canon before it must come home.

Counters live in `section_counters` (open_branches, return_debt): a fork opens a branch and adds one debt;
a return (T3) closes the branch and pays the debt. Forks are refused past the limits and a branch that
has grown MAX_BRANCH_DEPTH pages deep is forced home. A branch whose last page has drifted from the canon it
grew from (its continuity, below) is brought home early. The functions here are pure; the page generator
enforces the open-branch limit atomically with per-section fork slots (shared/storage/branches.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from shared.qdpi.composer import content_words
from shared.symbols import Orientation, Provenance, Symbol, Trajectory

MAX_RETURN_DEBT = 2
MAX_BRANCH_DEPTH = 3
MAX_OPEN_BRANCHES_PER_SECTION = 2
# A branch page sharing fewer of its content words with its canon than this has drifted away: measured on the
# real canon (710 pages), a page shares a median 0.235 (5th percentile 0.094) of its content words with the
# three pages before it, and a median 0.118 (25th percentile 0.082) with three pages of other sections.
MIN_BRANCH_CONTINUITY = 0.08


@dataclass(frozen=True)
class SectionCounters:
    open_branches: int = 0
    return_debt: int = 0


def allow_fork(counters: SectionCounters) -> bool:
    if counters.return_debt > MAX_RETURN_DEBT:
        return False
    return counters.open_branches < MAX_OPEN_BRANCHES_PER_SECTION


def require_return(branch_depth: int) -> bool:
    return branch_depth >= MAX_BRANCH_DEPTH


def return_reason(branch_depth: int) -> str:
    return f"branch is {branch_depth} pages deep: it must return to canon"


def fork_refusal(counters: SectionCounters, branch_depth: int = 0) -> str | None:
    """Why a fork from a page `branch_depth` deep is refused right now, or None when it is allowed."""
    if require_return(branch_depth):
        return return_reason(branch_depth)
    if counters.return_debt > MAX_RETURN_DEBT:
        return f"return debt {counters.return_debt} is over {MAX_RETURN_DEBT}: branches must come home first"
    if counters.open_branches >= MAX_OPEN_BRANCHES_PER_SECTION:
        return (f"{counters.open_branches} branches are already open in this section "
                f"(at most {MAX_OPEN_BRANCHES_PER_SECTION})")
    return None


@dataclass(frozen=True)
class TrajectoryChoice:
    trajectory: Trajectory
    reason: str


def branch_continuity(text: str, canon_texts: Iterable[str]) -> float | None:
    """Share of the text's distinct content words that occur in the canon pages its branch grew from (0..1):
    the index score the chooser reads for a page inside a branch. None when either side has no content words
    (no evidence either way). Deterministic: the same pages always give the same score."""
    words = set(content_words(text))
    canon = {w for t in canon_texts for w in content_words(t)}
    if not words or not canon:
        return None
    return round(len(words & canon) / len(words), 3)


def wanted_trajectory(symbol: Symbol, *, has_intent: bool) -> Trajectory:
    """What the behaviour asks for, before the policy: Read continues, Index looks back, Ask continues
    along the reader's question, Receive in a parallel/user/system key opens a fork."""
    if symbol.orientation is Orientation.INDEX:
        return Trajectory.LOOP_BACK
    if symbol.orientation is Orientation.RECEIVE and symbol.provenance is not Provenance.CANON:
        if symbol.provenance is not Provenance.USER or has_intent:
            return Trajectory.FORK
    return Trajectory.CONTINUE


def choose_trajectory(
    wanted: Trajectory, *, branch_depth: int, counters: SectionCounters, has_earlier_page: bool = True,
    continuity_score: float | None = None,
) -> TrajectoryChoice:
    """The policy gate. T3 (a branch too deep) always wins and becomes a loop back to the canon (T1);
    a refused fork continues instead; a loop back needs an earlier page; a continuation inside a branch whose
    continuity score (`branch_continuity`) is under MIN_BRANCH_CONTINUITY returns to the canon instead."""
    if require_return(branch_depth):
        return TrajectoryChoice(Trajectory.RETURN, return_reason(branch_depth))
    if wanted is Trajectory.FORK:
        refusal = fork_refusal(counters)
        if refusal:
            return TrajectoryChoice(Trajectory.CONTINUE, f"fork refused: {refusal}")
        return TrajectoryChoice(Trajectory.FORK, "fork allowed")
    if wanted is Trajectory.LOOP_BACK and not has_earlier_page:
        return TrajectoryChoice(Trajectory.CONTINUE, "no earlier page to loop back to")
    drifted = continuity_score is not None and continuity_score < MIN_BRANCH_CONTINUITY
    if wanted is Trajectory.CONTINUE and branch_depth > 0 and drifted:
        return TrajectoryChoice(Trajectory.RETURN, f"continuity {continuity_score:.2f} is under "
                                                   f"{MIN_BRANCH_CONTINUITY}: the branch has drifted, back to canon")
    return TrajectoryChoice(wanted, "as asked")
