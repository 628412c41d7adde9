"""The ASGI entry point gunicorn loads: `gunicorn -c gateway/gunicorn_conf.py gateway.asgi:app`."""

from gateway.app import create_app
from shared.config import Settings
from shared.logging import configure_logging

configure_logging("gateway")
app = create_app(Settings.from_env())
