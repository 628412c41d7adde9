"""Memory RAG: pages split into quotes, embedded (all-MiniLM-L6-v2, offline), indexed in Annoy shards."""
