"""Small stateless Nameko services; each owns one event type or one query, and nothing else."""
