"""Fixtures for the eventlet-patched suite (`nameko test tests/services`)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import pytest
from nameko.runners import ServiceRunner


@pytest.fixture
def run_services():
    """`with run_services(config, *classes):` real Nameko containers on the live broker, stopped afterwards."""

    @contextmanager
    def run(config: dict, *service_classes: type) -> Iterator[dict]:
        runner = ServiceRunner(config)
        for cls in service_classes:
            runner.add_service(cls)
        runner.start()
        try:
            yield config
        finally:
            runner.stop()

    return run
