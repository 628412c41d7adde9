"""`create_app(settings)`: the gateway's routes, with collaborators injected so tests can supply their own."""

from __future__ import annotations

import falcon.asgi

from gateway import errors
from gateway.resources.health import HealthResource
from shared.config import Settings
from shared.health import Check, default_checks


def create_app(settings: Settings, *, health_checks: tuple[Check, ...] | None = None) -> falcon.asgi.App:
    app = falcon.asgi.App(cors_enable=True)
    errors.install(app)
    app.add_route("/health", HealthResource(health_checks if health_checks is not None else default_checks(settings)))
    return app
