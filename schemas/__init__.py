"""The project's schemas (manifest JSON Schema, index mappings, error-code registry) and their Python face."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

SCHEMA_DIR = Path(__file__).parent


@cache
def load_json(name: str) -> dict:
    """Load a JSON file shipped in ``schemas/`` (cached: these files never change at run time)."""
    return json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
