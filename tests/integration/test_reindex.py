"""`gibsey reindex` against real Cassandra, as the command an operator runs: one page, one section, every page;
removing the vectors of pages that are gone (recovery), a section out of range, and the configured Annoy trees."""

from __future__ import annotations

import json
import subprocess
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from annoy import AnnoyIndex

from shared.rag.embedding import DIMENSIONS
from shared.rag.quotes import Quote
from shared.rag.shards import current_version
from shared.storage.vectors import VectorStore
from tests.env import child_env
from tests.integration.flow_support import BIN, REPO

pytestmark = pytest.mark.integration


@pytest.fixture
def keyspace(schema_keyspace) -> str:
    return schema_keyspace("reindex").cassandra_keyspace


@pytest.fixture
def reindex(keyspace, stack_settings, tmp_path):
    """reindex(*args, **env) -> CompletedProcess of `gibsey reindex ...` on the test keyspace and index dir."""
    index = tmp_path / "index"

    def run(*args: str, **extra_env: str) -> subprocess.CompletedProcess:
        env = child_env(replace(stack_settings, cassandra_keyspace=keyspace), GIBSEY_INDEX_DIR=str(index),
                        **extra_env)
        return subprocess.run([str(BIN / "gibsey"), "reindex", *args], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=300)

    run.index = index
    return run


def _insert(session, keyspace: str, section: int, text: str) -> str:
    page_id = str(uuid.uuid4())
    session.execute(f"INSERT INTO {keyspace}.pages (page_id, section, char_hex, text, title) VALUES "
                    f"(%s, %s, %s, %s, 'A branch')", (page_id, section, section - 1, text))
    return page_id


def _quote_sections(session, keyspace: str, page_id: str) -> list[int]:
    return [s for s in range(1, 17) if session.execute(
        f"SELECT loc FROM {keyspace}.quote_vectors WHERE section = %s AND page_id = %s LIMIT 1", (s, page_id)).one()]


def _has_page_vector(session, keyspace: str, page_id: str) -> bool:
    row = session.execute(f"SELECT page_id FROM {keyspace}.page_vectors WHERE page_id = %s", (page_id,)).one()
    return row is not None


def _shard_pages(index: Path, section: int) -> set[str]:
    version = current_version(index, section)
    return {item[0] for item in json.loads((index / f"section-{section:02d}.v{version}.json").read_text())}


def test_reindex_page_embeds_it_and_removes_the_vectors_of_a_page_that_is_gone(cassandra_session, keyspace,
                                                                                 reindex):
    page_id = _insert(cassandra_session, keyspace, 4, "The lantern keeper counts moths. Nobody asked him to.")
    done = reindex("--page", page_id)
    assert done.returncode == 0, done.stderr
    assert "embedded 1 of 1 pages" in done.stdout
    assert _quote_sections(cassandra_session, keyspace, page_id) == [4]
    assert _shard_pages(reindex.index, 4) == {page_id}

    cassandra_session.execute(f"DELETE FROM {keyspace}.pages WHERE page_id = %s", (page_id,))  # CDC not running
    done = reindex("--page", page_id)
    assert done.returncode == 0, done.stderr
    assert f"removed the vectors of 1 page(s) no longer in pages ({page_id})" in done.stdout
    assert _quote_sections(cassandra_session, keyspace, page_id) == []
    assert not _has_page_vector(cassandra_session, keyspace, page_id)
    assert _shard_pages(reindex.index, 4) == set()  # the shard was rebuilt without it

    again = reindex("--page", page_id)
    assert again.returncode == 1
    assert f"no page {page_id} with text in keyspace {keyspace}, and no vectors of it to remove" in again.stderr


def test_reindex_section_is_range_checked_and_builds_that_section_with_the_configured_trees(
        cassandra_session, keyspace, reindex, tmp_path):
    for bad, why in (("17", "section 17 does not exist: sections are 1..16"), ("0", "section 0 does not exist"),
                     ("seven", "'seven' is not a section number (1..16)")):
        refused = reindex("--section", bad)
        assert refused.returncode == 2 and why in refused.stderr, refused.stderr
    refused = reindex("--section", "7", GIBSEY_ANNOY_TREES="0")
    assert refused.returncode == 2 and "GIBSEY_ANNOY_TREES: must be at least 1, got 0" in refused.stderr

    in_seven = _insert(cassandra_session, keyspace, 7, "A glass hare sleeps in the clock. It dreams of minutes.")
    elsewhere = _insert(cassandra_session, keyspace, 9, "Somewhere else entirely.")
    done = reindex("--section", "7", GIBSEY_ANNOY_TREES="3")
    assert done.returncode == 0, done.stderr
    assert "shards rebuilt (3 trees): section 7 v1" in done.stdout
    assert _shard_pages(reindex.index, 7) == {in_seven}
    assert current_version(reindex.index, 9) == 0 and _quote_sections(cassandra_session, keyspace, elsewhere) == []
    built = AnnoyIndex(DIMENSIONS, "angular")
    built.load(str(reindex.index / "section-07.v1.ann"))
    items = built.get_n_items()
    assert built.get_n_trees() == _roots(items, 3, tmp_path) != _roots(items, 32, tmp_path)


def _roots(items: int, trees: int, directory: Path) -> int:
    """The roots a loaded Annoy file reports for `trees` trees over `items` items (more than `trees` for tiny
    indexes: loading counts every node that spans all items)."""
    index = AnnoyIndex(DIMENSIONS, "angular")
    for i in range(items):
        index.add_item(i, np.random.default_rng(i).normal(size=DIMENSIONS).tolist())
    index.build(trees, n_jobs=1)
    index.save(str(directory / "reference.ann"))
    loaded = AnnoyIndex(DIMENSIONS, "angular")
    loaded.load(str(directory / "reference.ann"))
    return loaded.get_n_trees()


def test_reindex_all_removes_vectors_of_pages_that_no_longer_exist_and_stray_quotes(cassandra_session, keyspace,
                                                                                      reindex):
    kept = _insert(cassandra_session, keyspace, 2, "The river forgets its name every spring.")
    gone = _insert(cassandra_session, keyspace, 5, "This page will be deleted while nothing listens.")
    assert reindex("--all").returncode == 0
    cassandra_session.execute(f"DELETE FROM {keyspace}.pages WHERE page_id = %s", (gone,))
    store = VectorStore(cassandra_session, keyspace)  # a move cut short: quotes of `kept` left in section 11
    store.write_quotes(page_id=kept, section=11, page_num=None, character_id="an-author",
                       quotes=[Quote(f"p{kept}-1", "stale")], vectors=np.ones((1, DIMENSIONS), dtype=np.float32))

    done = reindex("--all")
    assert done.returncode == 0, done.stderr
    assert f"removed the vectors of 1 page(s) no longer in pages ({gone}) and stray quotes of 1 page(s)" in done.stdout
    assert _quote_sections(cassandra_session, keyspace, gone) == [] and not _has_page_vector(
        cassandra_session, keyspace, gone)
    assert _quote_sections(cassandra_session, keyspace, kept) == [2]
    assert _shard_pages(reindex.index, 5) == set() and _shard_pages(reindex.index, 11) == set()
    assert _shard_pages(reindex.index, 2) == {kept}
