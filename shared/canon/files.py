"""Reading corpus files, turning every failure into a problem line that names the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_json(path: Path, root: Path, problems: list[str]) -> Any:
    """The parsed JSON, or None after appending "<relative path>: missing / unreadable JSON (...)"."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(f"{path.relative_to(root)}: missing")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(f"{path.relative_to(root)}: unreadable JSON ({exc})")
    return None
