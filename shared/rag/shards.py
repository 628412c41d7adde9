"""Annoy shards, one per section, swapped in place without stopping readers.

Writers build `section-NN.vK.ann` (+ `.json` with each item's page, location and quote) under temporary
names, rename them into place, then rename a pointer file `section-NN.current` (holding K) over the old one:
each rename is atomic, so a reader sees the old version or the new, never a half-written file. Readers
memory-map the files (the OS shares the pages between processes) and check the pointer's mtime before a
search, so a new version is picked up without a restart. A loaded shard also holds BM25 postings of its
quotes (shared/rag/lexical.py) and, on first exact search, a matrix of its vectors (for benchmarks).
"""

from __future__ import annotations

import fcntl
import heapq
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from annoy import AnnoyIndex

from shared.config import whole_number
from shared.rag.embedding import DIMENSIONS
from shared.rag.lexical import LexicalShard, coverage_scores
from shared.storage.vectors import QuoteRow

DEFAULT_TREES = 32
ALL_SECTIONS = tuple(range(1, 17))
KEEP_VERSIONS = 2
LOAD_ATTEMPTS = 5


def annoy_trees(env: Mapping[str, str] | None = None) -> int:
    """GIBSEY_ANNOY_TREES (default 32): more trees, better recall and bigger, slower-to-build shards. The
    indexer and `gibsey reindex` both read it, so a shard is built the same way whoever builds it."""
    return whole_number(os.environ if env is None else env, "GIBSEY_ANNOY_TREES", DEFAULT_TREES, 1)


def index_dir() -> Path:
    return Path(os.environ.get("GIBSEY_INDEX_DIR", Path(__file__).resolve().parents[2] / ".index"))


def _pointer(directory: Path, section: int) -> Path:
    return directory / f"section-{section:02d}.current"


def current_version(directory: Path, section: int) -> int:
    try:
        return int(_pointer(directory, section).read_text().strip())
    except (FileNotFoundError, ValueError):
        return 0


def build_shard(directory: Path, section: int, rows: Sequence[QuoteRow], trees: int = DEFAULT_TREES) -> int:
    """Write a new version of the section's shard and point readers at it; returns the version.
    Writers of one section take turns (an flock on `section-NN.lock`): the indexer and a `gibsey reindex`
    beside it must not pick the same version number or delete each other's files."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / f"section-{section:02d}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _write_version(directory, section, rows, trees)


def _write_version(directory: Path, section: int, rows: Sequence[QuoteRow], trees: int) -> int:
    version = current_version(directory, section) + 1
    stem = directory / f"section-{section:02d}.v{version}"
    index = AnnoyIndex(DIMENSIONS, "angular")
    for i, row in enumerate(rows):
        index.add_item(i, row.embedding)
    index.build(trees, n_jobs=1)
    tmp_ann, tmp_meta, tmp_ptr = (Path(f"{stem}.ann.tmp"), Path(f"{stem}.json.tmp"),
                                  Path(f"{_pointer(directory, section)}.tmp"))
    index.save(str(tmp_ann))
    index.unload()
    tmp_meta.write_text(json.dumps([[r.page_id, r.loc, r.page_num, r.character_id, r.quote] for r in rows]))
    os.replace(tmp_ann, f"{stem}.ann")
    os.replace(tmp_meta, f"{stem}.json")
    tmp_ptr.write_text(str(version))
    os.replace(tmp_ptr, _pointer(directory, section))
    for old in range(max(1, version - KEEP_VERSIONS - 8), version - KEEP_VERSIONS + 1):  # mapped ones stay readable
        for suffix in (".ann", ".json"):
            Path(f"{directory / f'section-{section:02d}.v{old}'}{suffix}").unlink(missing_ok=True)
    return version


@dataclass(frozen=True)
class Hit:
    """One quote found; `item` is its position in the section's shard (with `section`, its identity)."""

    page_id: str
    loc: str
    page_num: int | None
    section: int
    character_id: str
    quote: str
    score: float  # cosine similarity (hybrid ranking adds lexical coverage, see shared/rag/ranking.py)
    item: int = -1


@dataclass
class _Loaded:
    version: int
    mtime_ns: int
    index: AnnoyIndex | None
    meta: list
    lexical: LexicalShard
    matrix: np.ndarray | None = None

    def hit(self, section: int, item: int, score: float) -> Hit:
        page_id, loc, page_num, character_id, quote = self.meta[item]
        return Hit(page_id, loc, page_num, section, character_id, quote, score, item)

    def vectors(self) -> np.ndarray:
        """Every item's vector (unit length), read from the index once and kept: exact search's input."""
        if self.matrix is None:
            self.matrix = np.array([self.index.get_item_vector(i) for i in range(len(self.meta))], dtype=np.float32)
        return self.matrix


class ShardReader:
    def __init__(self, directory: Path | None = None, *, prefault: bool = False):
        self._dir = directory or index_dir()
        self._prefault = prefault
        self._shards: dict[int, _Loaded] = {}
        self._lock = threading.Lock()

    def _shard(self, section: int) -> _Loaded | None:
        pointer = _pointer(self._dir, section)
        try:
            mtime = pointer.stat().st_mtime_ns
        except FileNotFoundError:
            return None
        loaded = self._shards.get(section)
        if loaded is None or loaded.mtime_ns != mtime:
            with self._lock:
                loaded = self._shards.get(section)
                if loaded is None or loaded.mtime_ns != mtime:
                    loaded = self._load(section, mtime)
                    self._shards[section] = loaded
        return loaded

    def _load(self, section: int, mtime: int) -> _Loaded:
        """The version the pointer names. Rebuilds that finish between reading the pointer and opening the
        files delete them (Annoy says OSError "Unable to open", json FileNotFoundError): read the pointer
        again, a few times, since a burst of rebuilds can overtake a reader more than once."""
        for _ in range(LOAD_ATTEMPTS - 1):
            try:
                return self._load_current(section, mtime)
            except OSError:
                continue
        return self._load_current(section, mtime)

    def _load_current(self, section: int, mtime: int) -> _Loaded:
        version = current_version(self._dir, section)
        stem = self._dir / f"section-{section:02d}.v{version}"
        meta = json.loads(Path(f"{stem}.json").read_text())
        index = AnnoyIndex(DIMENSIONS, "angular")
        index.load(f"{stem}.ann", prefault=self._prefault)
        return _Loaded(version, mtime, index if meta else None, meta, LexicalShard.build(m[4] for m in meta))

    def versions(self) -> dict[int, int]:
        return {s: loaded.version for s in range(1, 17) if (loaded := self._shard(s)) is not None}

    def _live(self, sections: Sequence[int]) -> list[tuple[int, _Loaded]]:
        return [(s, shard) for s in sections if (shard := self._shard(s)) is not None and shard.index is not None]

    def search(self, vector: np.ndarray, k: int, sections: Sequence[int] = ALL_SECTIONS,
               search_k: int = -1) -> list[Hit]:
        """The k nearest quotes by cosine (Annoy: approximate), best first."""
        found: list[tuple[float, int, int, _Loaded]] = []
        query = vector.tolist()
        for section, shard in self._live(sections):
            ids, distances = shard.index.get_nns_by_vector(query, k, search_k=search_k, include_distances=True)
            found.extend((1.0 - d * d / 2, section, item, shard) for item, d in zip(ids, distances))
        best = heapq.nlargest(k, found, key=lambda f: f[0])
        return [shard.hit(section, item, score) for score, section, item, shard in best]

    def search_exact(self, vector: np.ndarray, k: int, sections: Sequence[int] = ALL_SECTIONS) -> list[Hit]:
        """The k nearest quotes by brute force over every vector: the baseline Annoy is measured against."""
        hits: list[Hit] = []
        for section, shard in self._live(sections):
            scores = shard.vectors() @ vector
            top = np.argsort(-scores)[:k]
            hits.extend(shard.hit(section, int(i), float(scores[i])) for i in top)
        hits.sort(key=lambda h: -h.score)
        return hits[:k]

    def lexical(self, query: str, k: int, vector: np.ndarray,
                sections: Sequence[int] = ALL_SECTIONS) -> list[tuple[Hit, float]]:
        """The k quotes that best cover the query's words, as (hit scored by cosine to `vector`, BM25
        coverage 0..1); both read from the same loaded version of each shard."""
        live = self._live(sections)
        coverage = coverage_scores(query, [(section, shard.lexical) for section, shard in live])
        by_section = dict(live)
        found = []
        for (section, item), cov in heapq.nlargest(k, coverage.items(), key=lambda kv: kv[1]):
            shard = by_section[section]
            cosine = float(np.dot(shard.index.get_item_vector(item), vector))
            found.append((shard.hit(section, item, cosine), cov))
        return found
