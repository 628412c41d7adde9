"""The branching policy: how far the book may wander from the canon before it must come home.

Counters live in `section_counters` (open_branches, return_debt): a fork opens a branch and adds one debt;
a return (T3) closes the branch and pays the debt. Forks are refused past the limits and a branch that
has grown MAX_BRANCH_DEPTH pages deep is forced home.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.symbols import Orientation, Provenance, Symbol, Trajectory

MAX_RETURN_DEBT = 2
MAX_BRANCH_DEPTH = 3
MAX_OPEN_BRANCHES_PER_SECTION = 2


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


def fork_refusal(counters: SectionCounters) -> str | None:
    """Why a fork is refused right now, or None when it is allowed."""
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
    a refused fork continues instead; a loop back needs an earlier page; a low continuity score from the
    index steers a continuation back to the canon."""
    if require_return(branch_depth):
        return TrajectoryChoice(Trajectory.RETURN, f"branch is {branch_depth} pages deep: it must return to canon")
    if wanted is Trajectory.FORK:
        refusal = fork_refusal(counters)
        if refusal:
            return TrajectoryChoice(Trajectory.CONTINUE, f"fork refused: {refusal}")
        return TrajectoryChoice(Trajectory.FORK, "fork allowed")
    if wanted is Trajectory.LOOP_BACK and not has_earlier_page:
        return TrajectoryChoice(Trajectory.CONTINUE, "no earlier page to loop back to")
    if wanted is Trajectory.CONTINUE and branch_depth > 0 and continuity_score is not None and continuity_score < 0.05:
        return TrajectoryChoice(Trajectory.RETURN, f"continuity {continuity_score:.2f} is too low: back to canon")
    return TrajectoryChoice(wanted, "as asked")
