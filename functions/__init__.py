"""Small stateless Nameko services; each owns one event type or one query, and nothing else."""

import shared  # noqa: F401  (first, so its warning filters apply before cassandra-driver is imported)
