"""The HTTP face of Gibsey: a Falcon ASGI app served by gunicorn's asgi worker."""

import shared  # noqa: F401  (first, so its warning filters apply before cassandra-driver is imported)
