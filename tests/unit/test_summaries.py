"""Summary core: deterministic k-means, clusters of pages, extractive 200-300-word notes citing (p.N)."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import numpy as np
import pytest

from shared.config import ConfigError
from shared.summaries.clusters import build_clusters, pages_from_quotes
from shared.summaries.kmeans import kmeans
from shared.summaries.note import cluster_keywords, extractive_note, word_count
from shared.summaries.run import SummaryError, run_recorded, summarise
from shared.summaries.settings import SummarySettings
from tests.unit.summaries_support import TOPICS, MemoryStore, synthetic_quotes

CITATION = re.compile(r"\(p\.(\d+)\)")


def test_kmeans_is_deterministic_and_finds_separated_groups():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16)) * 10
    points = np.concatenate([c + rng.normal(size=(25, 16)) for c in centres])
    first, again = kmeans(points, 4, seed=3), kmeans(points, 4, seed=3)
    assert np.array_equal(first.labels, again.labels)
    for group in range(4):  # each true group lands in exactly one cluster
        assert len(set(first.labels[group * 25:(group + 1) * 25])) == 1
    assert len(set(first.labels)) == 4


def test_kmeans_caps_k_and_never_leaves_a_cluster_empty():
    points = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    result = kmeans(points, 3, seed=1)
    assert sorted(np.bincount(result.labels, minlength=3)) == [1, 1, 2]
    assert len(kmeans(points, 10, seed=1).centroids) == 4


def test_clusters_group_pages_of_a_topic_and_order_by_centrality():
    pages = pages_from_quotes(synthetic_quotes())
    clusters = build_clusters(pages, 3, seed=7)
    assert [c.cluster_id for c in clusters] == [0, 1, 2]
    assert sorted(len(c.members) for c in clusters) == [10, 10, 10]
    for c in clusters:
        numbers = {p.page_num for p in c.members}
        assert numbers in ({*range(1, 11)}, {*range(11, 21)}, {*range(21, 31)})
        assert c.center is c.members[0]
    topics = [next(t for t in TOPICS if set(c.keywords[:3]) <= set(TOPICS[t]) | {t}) for c in clusters]
    assert sorted(topics) == sorted(TOPICS)


def test_k_is_fewer_when_the_book_has_fewer_pages():
    pages = pages_from_quotes(synthetic_quotes(pages_per_topic=2))
    assert len(build_clusters(pages, 48, seed=7)) == 6


def test_keywords_prefer_terms_distinctive_of_a_cluster():
    keys = cluster_keywords(["the tide and the tower tide", "the tower and the moss moss"])
    assert keys[0][0] == "tide" and keys[1][0] == "moss"


def test_extractive_note_is_200_to_300_words_and_cites_member_pages():
    for cluster in build_clusters(pages_from_quotes(synthetic_quotes()), 3, seed=7):
        note = extractive_note(cluster)
        assert 200 <= word_count(note) <= 300, (word_count(note), note)
        cited = {int(n) for n in CITATION.findall(note)}
        members = {p.page_num for p in cluster.members}
        assert cited and cited <= members
        assert cited == members  # every member page is named (quoted or listed)


def test_a_huge_cluster_still_fits_300_words():
    pages = pages_from_quotes(synthetic_quotes(pages_per_topic=40))
    for cluster in build_clusters(pages, 1, seed=7):
        note = extractive_note(cluster)
        assert 200 <= word_count(note) <= 300
        assert "more." in note


def test_a_run_writes_k_rows_and_rerun_is_idempotent():
    store = MemoryStore(synthetic_quotes())
    settings = SummarySettings(k=3)
    report = summarise(store, settings)
    assert report.written and len(report.summaries) == 3
    pointer, rows = store.latest()
    assert pointer.run_id == report.run_id and len(rows) == 3
    assert all(r.generator == "extractive" and 200 <= r.words <= 300 for r in rows)
    writes = store.writes
    again = summarise(store, settings)
    assert again.run_id == report.run_id and not again.written and store.writes == writes


def test_dry_run_writes_nothing():
    store = MemoryStore(synthetic_quotes())
    report = summarise(store, SummarySettings(k=3), dry_run=True)
    assert len(report.summaries) == 3 and store.rows == {} and store.pointer().run_id is None


def test_failed_run_keeps_the_previous_run_visible_and_reports_it():
    store = MemoryStore(synthetic_quotes())
    first = summarise(store, SummarySettings(k=3))
    store.fail_quotes = RuntimeError("Cassandra went away")
    outcomes = []
    with pytest.raises(RuntimeError):
        run_recorded(store, SummarySettings(k=2), on_outcome=lambda *a: outcomes.append(a),
                     now=lambda: datetime(2026, 11, 22, 3, 0, tzinfo=timezone.utc))
    pointer, rows = store.latest()
    assert pointer.run_id == first.run_id and len(rows) == 3
    assert pointer.last_failed_run == "20261122-failed" and "went away" in pointer.last_error
    assert outcomes[0][1] == "failed"


def test_an_empty_book_is_a_clear_error():
    with pytest.raises(SummaryError, match="reindex"):
        summarise(MemoryStore([]), SummarySettings())


def test_settings_from_env():
    s = SummarySettings.from_env({"GIBSEY_SUMMARY_AT": "02:30", "GIBSEY_SUMMARY_TZ": "Europe/Paris",
                                  "GIBSEY_SUMMARY_K": "12"})
    assert (s.at, s.tz, s.k) == ("02:30", "Europe/Paris", 12)
    assert SummarySettings.from_env({}) == SummarySettings()
    for env in ({"GIBSEY_SUMMARY_AT": "3am"}, {"GIBSEY_SUMMARY_TZ": "Mars/Olympus"}, {"GIBSEY_SUMMARY_K": "0"}):
        with pytest.raises(ConfigError):
            SummarySettings.from_env(env)
