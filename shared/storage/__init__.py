"""Storage access: Cassandra sessions and the versioned schema."""
