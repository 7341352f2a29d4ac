"""How every CLI command answers: one JSON object with ``--json``, otherwise rich text."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

JsonOpt = typer.Option(False, "--json", help="Print exactly one JSON object on stdout.")


def emit(obj: Any, as_json: bool, text: Table | str | None = None, code: int = 0) -> None:
    """Print the answer and end the command with ``code``."""
    if as_json:
        sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    elif isinstance(text, str):
        Console().print(text, highlight=False, markup=False)
    elif text is not None:
        Console().print(text)
    else:
        Console().print_json(json.dumps(obj, ensure_ascii=False, default=str))
    raise typer.Exit(code)
