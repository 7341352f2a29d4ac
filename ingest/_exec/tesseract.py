"""Tesseract: one page image in, hOCR and plain text out; orientation by OSD.

Each call runs single-threaded (``OMP_THREAD_LIMIT=1``): parallelism comes from
running pages in separate worker processes, never from inside Tesseract.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from ingest._exec._run import require, run

SINGLE_THREAD = {"OMP_THREAD_LIMIT": "1"}


@cache
def version() -> str:
    """The installed version, e.g. ``5.3.0``; ToolMissing when absent."""
    out = run([require("tesseract"), "--version"]).stdout.decode()
    match = re.search(r"tesseract\s+v?([\d.]+)", out)
    return match.group(1) if match else out.splitlines()[0]


def recognise(image: Path, out_base: Path, *, languages: str, dpi: int, timeout: float) -> tuple[Path, Path]:
    """OCR one page in one pass, writing ``out_base.hocr`` and ``out_base.txt``."""
    run(
        [require("tesseract"), image, out_base, "-l", languages, "--dpi", str(dpi), "hocr", "txt"],
        timeout=timeout,
        env=SINGLE_THREAD,
    )
    return out_base.with_suffix(".hocr"), out_base.with_suffix(".txt")


def orientation(image: Path, *, dpi: int, timeout: float) -> tuple[int, float]:
    """Clockwise degrees to turn the page upright and OSD's confidence (``--psm 0``)."""
    proc = run(
        [require("tesseract"), image, "-", "--psm", "0", "--dpi", str(dpi)],
        timeout=timeout,
        env=SINGLE_THREAD,
        check=False,
    )
    out = proc.stdout.decode(errors="replace")
    rotate = re.search(r"Rotate:\s*(\d+)", out)
    conf = re.search(r"Orientation confidence:\s*([\d.]+)", out)
    if proc.returncode != 0 or rotate is None:
        return 0, 0.0
    return int(rotate.group(1)) % 360, float(conf.group(1)) if conf else 0.0
