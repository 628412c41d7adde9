"""Deterministic k-means (k-means++ seeding, a fixed seed) over unit vectors, in numpy.

Why our own: the input is small (one vector per page, ~710 x 384), and a nightly run must give the same
clusters for the same book so a re-run is idempotent; a dozen lines of numpy need no new dependency.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_ITERATIONS = 100


@dataclass(frozen=True)
class Clustering:
    labels: np.ndarray  # (n,) cluster index of each point
    centroids: np.ndarray  # (k, d)
    iterations: int


def _sq_distances(points: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """(n, k) squared Euclidean distances, clipped at 0 against rounding."""
    d = (points * points).sum(1)[:, None] - 2 * points @ centroids.T + (centroids * centroids).sum(1)[None, :]
    return np.maximum(d, 0.0)


def kmeans_pp_init(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++: each next centre is drawn with probability proportional to its squared distance."""
    n = len(points)
    centres = [int(rng.integers(n))]
    closest = _sq_distances(points, points[centres]).min(1)
    for _ in range(1, k):
        total = float(closest.sum())
        pick = int(rng.choice(n, p=closest / total)) if total > 0 else int(np.argmax(closest))
        centres.append(pick)
        closest = np.minimum(closest, _sq_distances(points, points[[pick]])[:, 0])
    return points[centres].copy()


def kmeans(points: np.ndarray, k: int, *, seed: int = 0, max_iterations: int = MAX_ITERATIONS) -> Clustering:
    """Lloyd iterations from a k-means++ start; an emptied cluster takes the point farthest from its centre,
    so every one of the k clusters has at least one member (k is capped at the number of points)."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or len(points) == 0:
        raise ValueError("kmeans needs a non-empty (n, d) array")
    k = max(1, min(k, len(points)))
    rng = np.random.default_rng(seed)
    centroids = kmeans_pp_init(points, k, rng)
    labels = np.full(len(points), -1)
    iterations = 0
    for iterations in range(1, max_iterations + 1):
        distances = _sq_distances(points, centroids)
        new_labels = distances.argmin(1)
        counts = np.bincount(new_labels, minlength=k)
        for empty in np.flatnonzero(counts == 0):
            own = distances[np.arange(len(points)), new_labels]
            donors = np.flatnonzero(counts[new_labels] > 1)
            far = int(donors[np.argmax(own[donors])])
            counts[new_labels[far]] -= 1
            new_labels[far], counts[empty] = empty, 1
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
        centroids = np.stack([points[labels == c].mean(0) for c in range(k)])
    return Clustering(labels, centroids, iterations)
