"""qpdf: structural check of a PDF (``qpdf --check``)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from ingest._exec._run import require, run


@cache
def version() -> str:
    """The installed version, e.g. ``11.3.0``."""
    out = run([require("qpdf"), "--version"]).stdout.decode()
    match = re.search(r"version\s+([\d.]+)", out)
    return match.group(1) if match else out.splitlines()[0]


def check(pdf: Path) -> tuple[bool, str]:
    """Whether ``qpdf --check`` finds no errors (exit 0; 3 means warnings only) and its report."""
    proc = run([require("qpdf"), "--check", pdf], check=False)
    report = (proc.stdout + proc.stderr).decode(errors="replace")
    return proc.returncode in (0, 3), report
