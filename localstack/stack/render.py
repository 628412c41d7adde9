"""Renders localstack/templates/* into the state dir with string.Template."""
from __future__ import annotations

from pathlib import Path
from string import Template

from .errors import StackError
from .settings import TEMPLATES_DIR


def render(template: str, dest: Path, values: dict[str, object]) -> Path:
    """Substitute ``${name}`` placeholders; an unknown placeholder is a bug we want loudly."""
    source = TEMPLATES_DIR / template
    try:
        text = Template(source.read_text()).substitute({k: str(v) for k, v in values.items()})
    except KeyError as exc:
        raise StackError(f"template {source} needs a value for {exc}") from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.exists() or dest.read_text() != text:
        dest.write_text(text)
    return dest


def read_options(template: str) -> list[str]:
    """A JVM options file: one option per line, '#' comments; "--add-opens x" splits in two."""
    args: list[str] = []
    for raw in (TEMPLATES_DIR / template).read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            args.extend(line.split())
    return args
