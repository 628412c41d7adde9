"""The HTTP face of Gibsey: a Falcon ASGI app served by gunicorn's asgi worker."""
