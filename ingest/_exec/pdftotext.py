"""pdftotext (poppler): the text layer a PDF already carries, one string per page."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from ingest._exec._run import require, run


@cache
def version() -> str:
    """The installed poppler version, e.g. ``22.12.0``."""
    proc = run([require("pdftotext"), "-v"], check=False)
    out = (proc.stdout + proc.stderr).decode(errors="replace")
    match = re.search(r"version\s+([\d.]+)", out)
    return match.group(1) if match else out.splitlines()[0]


def page_texts(pdf: Path, *, timeout: float) -> list[str]:
    """Text of every page in reading order (UTF-8); pages are split on form feeds."""
    out = run([require("pdftotext"), "-enc", "UTF-8", pdf, "-"], timeout=timeout).stdout.decode("utf-8", "replace")
    pages = out.split("\f")
    return pages[:-1] if pages and pages[-1] == "" else pages
