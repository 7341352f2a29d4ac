"""The per-copy trace id and its faint machine-readable dot pattern.

A trace id is 16 hex digits (64 bits) derived from the request id and the issue time, so
the same request issued at the same time always gets the same id (DIPs regenerate
identically) while two issues of one request differ.

The pattern is a grid of ``ROWS`` x ``COLS`` small grey squares: 64 id bits plus an
8-bit check (the first byte of SHA-256 over the id), row-major, most significant bit
first, framed by an always-dark row of finder cells above and below, on a small white card. It is drawn at
fixed positions in the page margins (``PATTERN_ORIGINS``, in points from the lower-left
corner of the stamp), so ``decode_pattern`` can read it back from a raster of the page.

Limits: decoding samples fixed positions, so it needs the page rendered or rescanned
upright and registered to its corners (no skew or scale search is done); a printout
scanned below ~150 dpi, heavy JPEG, toner saving or cropping of the margins destroys it.
The visible watermark (which OCR reads back: name, request id) and the invisible text run
are the other two carriers; the XMP copy survives only digital copies of the file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime

from PIL import Image

ROWS = 6
COLS = 12
CELL = 3.0  # points per cell
DOT = 2.2  # side of a dark square, points
GREY = 0.72  # fill grey of a dot: faint to the eye, clear to a scanner
PATTERN_ORIGINS: tuple[tuple[float, float], ...] = ((14.0, 10.0), (540.0, 10.0), (14.0, 806.0))


def trace_id_for(request_id: str, issued_at: datetime) -> str:
    """A stable 64-bit id for one issue of one request."""
    seed = f"juanzong-trace:{request_id}:{issued_at.isoformat()}".encode()
    return hashlib.sha256(seed).hexdigest()[:16]


def _check_byte(trace_id: str) -> int:
    return hashlib.sha256(trace_id.encode()).digest()[0]


def pattern_bits(trace_id: str) -> tuple[bool, ...]:
    """The 72 data bits of ``trace_id``: 64 id bits then an 8-bit check."""
    value = int(trace_id, 16)
    bits = [bool(value >> (63 - i) & 1) for i in range(64)]
    check = _check_byte(trace_id)
    bits += [bool(check >> (7 - i) & 1) for i in range(8)]
    return tuple(bits)


def pattern_cells(trace_id: str, origin: tuple[float, float]) -> Iterator[tuple[float, float, bool]]:
    """Lower-left corner (points) and darkness of every square of one copy of the pattern.

    The pattern sits on an opaque white card, so a grey or shaded scan background under
    it cannot pass for a one.
    """
    x0, y0 = origin
    for col in range(COLS):  # finder rows: bottom (row -1) and top (row ROWS)
        yield x0 + col * CELL, y0, True
        yield x0 + col * CELL, y0 + (ROWS + 1) * CELL, True
    for i, bit in enumerate(pattern_bits(trace_id)):
        row, col = divmod(i, COLS)
        yield x0 + col * CELL, y0 + (ROWS - row) * CELL, bit


def _dark(image: Image.Image, x_pt: float, y_pt: float, scale: float) -> bool:
    px = int((x_pt + DOT / 2) * scale)
    py = int(image.height - (y_pt + DOT / 2) * scale)
    return image.getpixel((px, py)) < 220


def decode_pattern(image: Image.Image, page_width_pt: float) -> str | None:
    """The trace id read from an upright raster of a whole page, or None if no copy checks out."""
    grey = image.convert("L")
    scale = grey.width / page_width_pt
    for x0, y0 in PATTERN_ORIGINS:
        if not all(_dark(grey, x0 + c * CELL, y0, scale) for c in range(COLS)):
            continue
        bits = [_dark(grey, x0 + (i % COLS) * CELL, y0 + (ROWS - i // COLS) * CELL, scale)
                for i in range(ROWS * COLS)]
        value = sum(1 << (63 - i) for i, bit in enumerate(bits[:64]) if bit)
        candidate = f"{value:016x}"
        if pattern_bits(candidate) == tuple(bits):
            return candidate
    return None
