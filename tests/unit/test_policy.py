import pytest

from shared.qdpi.policy import (
    MAX_BRANCH_DEPTH,
    MIN_BRANCH_CONTINUITY,
    SectionCounters,
    allow_fork,
    branch_continuity,
    choose_trajectory,
    fork_refusal,
    require_return,
    wanted_trajectory,
)
from shared.symbols import Trajectory, behaviour_by_notation, encode, symbol


def test_fork_gates_follow_the_plan():
    assert not allow_fork(SectionCounters(open_branches=0, return_debt=3))
    assert "return debt 3 is over 2" in fork_refusal(SectionCounters(0, 3))
    assert allow_fork(SectionCounters(open_branches=1, return_debt=0))
    assert allow_fork(SectionCounters(open_branches=1, return_debt=2))
    assert not allow_fork(SectionCounters(open_branches=2, return_debt=0))
    assert "2 branches are already open" in fork_refusal(SectionCounters(2, 0))


def test_return_is_required_at_max_depth():
    assert not require_return(MAX_BRANCH_DEPTH - 1)
    assert require_return(3)


def _sym(notation):
    return symbol(encode(3, behaviour_by_notation(notation).index))


@pytest.mark.parametrize("notation, intent, wanted", [
    ("XC", False, Trajectory.CONTINUE), ("XS", False, Trajectory.CONTINUE),
    ("YC", False, Trajectory.LOOP_BACK), ("YU", True, Trajectory.LOOP_BACK),
    ("AU", True, Trajectory.CONTINUE),
    ("ZC", False, Trajectory.CONTINUE), ("ZP", False, Trajectory.FORK), ("ZS", False, Trajectory.FORK),
    ("ZU", False, Trajectory.CONTINUE), ("ZU", True, Trajectory.FORK),
])
def test_behaviours_ask_for_trajectories(notation, intent, wanted):
    assert wanted_trajectory(_sym(notation), has_intent=intent) is wanted


def test_chooser_forces_home_refuses_forks_and_needs_an_earlier_page():
    deep = choose_trajectory(Trajectory.FORK, branch_depth=3, counters=SectionCounters())
    assert deep.trajectory is Trajectory.RETURN and "must return" in deep.reason
    refused = choose_trajectory(Trajectory.FORK, branch_depth=0, counters=SectionCounters(0, 3))
    assert refused.trajectory is Trajectory.CONTINUE and refused.reason.startswith("fork refused")
    allowed = choose_trajectory(Trajectory.FORK, branch_depth=1, counters=SectionCounters(1, 1))
    assert allowed.trajectory is Trajectory.FORK
    nowhere = choose_trajectory(Trajectory.LOOP_BACK, branch_depth=0, counters=SectionCounters(),
                                has_earlier_page=False)
    assert nowhere.trajectory is Trajectory.CONTINUE
    drifting = choose_trajectory(Trajectory.CONTINUE, branch_depth=2, counters=SectionCounters(),
                                 continuity_score=0.01)
    assert drifting.trajectory is Trajectory.RETURN


def test_a_fork_from_a_page_at_max_depth_is_refused_with_the_must_return_reason():
    assert fork_refusal(SectionCounters(), branch_depth=MAX_BRANCH_DEPTH - 1) is None
    refusal = fork_refusal(SectionCounters(), branch_depth=MAX_BRANCH_DEPTH)
    assert refusal == f"branch is {MAX_BRANCH_DEPTH} pages deep: it must return to canon"
    assert choose_trajectory(Trajectory.FORK, branch_depth=MAX_BRANCH_DEPTH, counters=SectionCounters()).reason == \
        refusal


CANON = "The lighthouse keeper counted gulls along the harbour wall while the ferry waited for the tide."


def test_branch_continuity_is_the_share_of_words_still_from_the_canon():
    assert branch_continuity("The keeper counted gulls by the ferry.", [CANON]) == 1.0
    assert branch_continuity("Saturn's moons orbit beyond asteroid belts.", [CANON]) == 0.0
    half = branch_continuity("The keeper counted marmalade jars.", [CANON])  # keeper, counted / marmalade, jars
    assert half == 0.5
    assert branch_continuity("", [CANON]) is None and branch_continuity("A keeper.", []) is None


def test_the_chooser_brings_a_drifted_branch_home_and_leaves_a_grounded_one():
    drifted = branch_continuity("Saturn's moons orbit beyond asteroid belts.", [CANON])
    grounded = branch_continuity("The keeper counted gulls by the ferry.", [CANON])
    home = choose_trajectory(Trajectory.CONTINUE, branch_depth=2, counters=SectionCounters(),
                             continuity_score=drifted)
    assert home.trajectory is Trajectory.RETURN and "drifted" in home.reason
    assert choose_trajectory(Trajectory.CONTINUE, branch_depth=2, counters=SectionCounters(),
                             continuity_score=grounded).trajectory is Trajectory.CONTINUE
    assert choose_trajectory(Trajectory.CONTINUE, branch_depth=0, counters=SectionCounters(),
                             continuity_score=drifted).trajectory is Trajectory.CONTINUE  # only inside a branch
    assert MIN_BRANCH_CONTINUITY > 0.0
