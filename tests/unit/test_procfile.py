"""The Procfile runs every function (and the gateway), each as its own process, by a module that imports."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FUNCTIONS = sorted(p.parent.name for p in (REPO / "functions").glob("*/service.py"))
_NAMEKO = re.compile(r"^(?P<name>\w+): GIBSEY_SERVICE_NAME=(?P<env>\w+) nameko run --config functions/nameko.yaml "
                     r"(?P<module>functions\.\w+\.service)$")


def _lines() -> dict[str, str]:
    entries = [line.split(":", 1) for line in (REPO / "Procfile").read_text().splitlines() if line.strip()]
    return {name.strip(): command.strip() for name, command in entries}


def test_every_function_has_one_process():
    processes = _lines()
    assert sorted(name for name in processes if name != "gateway") == FUNCTIONS
    assert processes["gateway"] == "gunicorn -c gateway/gunicorn_conf.py gateway.asgi:app"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_each_function_line_names_its_own_service_module(name):
    match = _NAMEKO.match(f"{name}: {_lines()[name]}")
    assert match, _lines()[name]
    assert match["env"] == name and match["module"] == f"functions.{name}.service"
    module = importlib.import_module(match["module"])
    services = [v for v in vars(module).values()
                if isinstance(v, type) and v.__module__ == module.__name__ and isinstance(getattr(v, "name", None), str)]
    assert [s.name.endswith(name) for s in services] == [True]  # one Nameko service, named for its function
