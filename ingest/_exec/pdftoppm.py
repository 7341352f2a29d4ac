"""pdftoppm (poppler): one page of a PDF as a PNG, for a person to look at (the console)."""

from __future__ import annotations

from pathlib import Path

from ingest._exec._run import require, run


def page_png(pdf: Path, page: int, *, dpi: int = 80, timeout: float = 60) -> bytes:
    """Page ``page`` (1-based) rendered at ``dpi``; PNG bytes from the program's stdout."""
    return run([require("pdftoppm"), "-png", "-r", str(dpi), "-f", str(page), "-l", str(page),
                "-singlefile", pdf], timeout=timeout).stdout
