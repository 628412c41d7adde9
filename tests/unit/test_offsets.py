from shared.bus.offsets import OffsetTracker


def test_commits_only_the_contiguous_finished_prefix():
    t = OffsetTracker()
    for offset in (10, 11, 12):
        t.started("p0", offset)
    t.done("p0", 12)  # a later one finishes first
    assert t.committable() == {"p0": 10}  # nothing new is safe: 10 is still in flight
    t.done("p0", 10)
    assert t.committable() == {"p0": 11}
    t.mark_committed({"p0": 11})
    assert t.committable() == {}
    t.done("p0", 11)
    assert t.committable() == {"p0": 13}


def test_partitions_are_independent_and_forgotten_on_revoke():
    t = OffsetTracker()
    t.started("p0", 0)
    t.started("p1", 5)
    t.done("p1", 5)
    assert t.committable() == {"p0": 0, "p1": 6}
    t.mark_committed({"p0": 0, "p1": 6})
    t.forget(["p1"])
    assert t.in_flight("p0") == 1 and t.in_flight("p1") == 0
    assert t.committable() == {}
