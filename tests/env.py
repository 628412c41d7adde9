"""The environment a test's child process (gateway, CLI, function) gets.

The parent's environment supplies PATH, the venv and the locale; the test's `Settings` go on top, so the
child talks to the servers, keyspace, topic prefix and RPC prefix of the fixture that started it, never to
whatever the developer's shell happens to export.
"""

from __future__ import annotations

import os

from shared.config import Settings


def child_env(settings: Settings, **overrides: str) -> dict[str, str]:
    """os.environ, then `settings` as variables, then `overrides` (e.g. GIBSEY_HTTP_PORT) last."""
    return {**os.environ, **settings.to_env(), **overrides}
