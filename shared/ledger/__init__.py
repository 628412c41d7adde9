"""Credits and the vault: contracts (`contracts`, `errors`) and their Cassandra storage (`store`, `vault`).

The `ledger` Nameko service (functions/ledger) is the only writer; everyone else calls it over RPC.
"""
