"""Reading order and hOCR for engines that find lines, not pages (PP-OCR).

The order is the ground truth's and a reader's: rows from top to bottom, and within a row
the pieces from left to right (a label and its value, a right-aligned date); in a ruled
table, row by row and cell by cell, so a cell's wrapped text stays together. A vertical
gap wider than a line's height starts a new paragraph. The hOCR mirrors
Tesseract's (page, area, paragraph, line, one word per CJK character, ``x_wconf``) so the
text layer, the typography pass and the review flags need not know which engine read it.
"""

from __future__ import annotations

import html
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ingest.ocr._ppocr import Glyph, TextLine
from ingest.ocr.typography import join_words

ROW_OVERLAP = 0.5
PARAGRAPH_GAP = 1.0  # in line heights


@dataclass(frozen=True)
class Rules:
    """A page's table rules: horizontal ones as ``(y, x0, x1)``, vertical ones as ``(x, y0, y1)``."""

    across: tuple[tuple[int, int, int], ...] = ()
    down: tuple[tuple[int, int, int], ...] = ()


def find_rules(grey: np.ndarray) -> Rules:
    """Ruled lines: ink runs longer than any character stroke (a sixth of the page across,
    three line heights down), found by opening the ink with a long thin kernel."""
    ink = (grey < 160).astype(np.uint8)
    height, width = ink.shape
    across = _runs(cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((1, width // 6), np.uint8)), horizontal=True)
    down = _runs(cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((height // 25, 1), np.uint8)), horizontal=False)
    return Rules(across=tuple(across), down=tuple(down))


def _runs(opened: np.ndarray, *, horizontal: bool) -> list[tuple[int, int, int]]:
    count, _labels, stats, _centroids = cv2.connectedComponentsWithStats(opened, connectivity=8)
    if horizontal:
        return sorted((int(y + h // 2), int(x), int(x + w)) for x, y, w, h, _ in stats[1:count])
    return sorted((int(x + w // 2), int(y), int(y + h)) for x, y, w, h, _ in stats[1:count])


def rows(lines: Sequence[TextLine], rules: Rules = Rules()) -> list[list[TextLine]]:
    """Lines in reading order, grouped into rows (each row one hOCR line, left to right).

    Outside tables, a line joins the row when it overlaps it vertically by half its own height.
    Inside a table the order is the ground truth's: row by row, and within a table row cell by
    cell, a cell's wrapped lines together (each its own row here)."""
    free, cells = [], {}
    for line in lines:
        key = _cell(line, rules)
        if key is None:
            free.append(line)
        else:
            cells.setdefault(key[0], []).append((key[1], line))
    units = [(row[0].y0, [row]) for row in _free_rows(free)]
    for band, members in cells.items():
        ordered = [line for _, line in sorted(members, key=lambda m: (m[0], m[1].y0, m[1].x0))]
        units.append((band, [[line] for line in ordered]))
    return [row for _, group in sorted(units, key=lambda u: u[0]) for row in group]


def _cell(line: TextLine, rules: Rules) -> tuple[int, int] | None:
    """(top rule's y, column number) of the table cell holding the line's centre, if any."""
    cx, cy = (line.x0 + line.x1) / 2, (line.y0 + line.y1) / 2
    above = [y for y, x0, x1 in rules.across if y <= cy and x0 <= cx <= x1]
    below = [y for y, x0, x1 in rules.across if y > cy and x0 <= cx <= x1]
    sides = [x for x, y0, y1 in rules.down if y0 <= cy <= y1]
    if not above or not below or not any(x <= cx for x in sides) or not any(x > cx for x in sides):
        return None
    return max(above), sum(1 for x in sides if x <= cx)


def _free_rows(lines: Sequence[TextLine]) -> list[list[TextLine]]:
    found: list[list[TextLine]] = []
    for line in sorted(lines, key=lambda item: (item.y0 + item.y1) / 2):
        row = found[-1] if found else None
        if row is not None and _overlap(row, line) >= ROW_OVERLAP * min(line.height, _row_height(row)):
            row.append(line)
        else:
            found.append([line])
    return [sorted(row, key=lambda item: item.x0) for row in found]


def paragraphs(ordered: list[list[TextLine]]) -> list[list[list[TextLine]]]:
    """Rows grouped where the gap to the previous row is under ``PARAGRAPH_GAP`` line heights."""
    if not ordered:
        return []
    typical = statistics.median(line.height for row in ordered for line in row)
    found = [[ordered[0]]]
    for previous, row in zip(ordered, ordered[1:]):
        gap = min(line.y0 for line in row) - max(line.y1 for line in previous)
        if gap > PARAGRAPH_GAP * typical:
            found.append([row])
        else:
            found[-1].append(row)
    return found


def _overlap(row: list[TextLine], line: TextLine) -> int:
    top, bottom = min(item.y0 for item in row), max(item.y1 for item in row)
    return min(bottom, line.y1) - max(top, line.y0)


def _row_height(row: list[TextLine]) -> int:
    return max(item.y1 for item in row) - min(item.y0 for item in row)


def words(row: list[TextLine]) -> list[Glyph]:
    """A row's characters as hOCR words: one per CJK character, as Tesseract cuts Chinese,
    and runs of other characters (digits, Latin, ASCII punctuation) kept together."""
    out: list[Glyph] = []
    for line in row:
        for n, glyph in enumerate(line.glyphs):
            if glyph.text.isspace():
                continue
            prev = line.glyphs[n - 1] if n else None
            if out and prev is not None and not prev.text.isspace() and _joins(prev.text, glyph.text):
                last = out[-1]
                out[-1] = Glyph(text=last.text + glyph.text, x0=last.x0, x1=glyph.x1,
                                confidence=min(last.confidence, glyph.confidence))
            else:
                out.append(glyph)
    return out


def _joins(previous: str, current: str) -> bool:
    return previous.isascii() and current.isascii()


def word_confidences(blocks: list[list[list[TextLine]]]) -> list[int]:
    """Every word's ``x_wconf`` (0-100), in reading order."""
    return [_percent(w.confidence) for para in blocks for row in para for w in words(row)]


def _percent(probability: float) -> int:
    return round(100 * probability)


def page_text(blocks: list[list[list[TextLine]]]) -> str:
    """Paragraphs split by a blank line, rows by a newline, as ``typography.repair_hocr`` writes."""
    paras = ["\n".join(t for row in para if (t := join_words([w.text for w in words(row)]))) for para in blocks]
    return "\n\n".join(p for p in paras if p) + "\n"


def write_hocr(path: Path, blocks: list[list[list[TextLine]]], size: tuple[int, int], dpi: int,
               language: str) -> None:
    """An hOCR file OCRmyPDF's renderer and ``typography.repair_hocr`` read like Tesseract's."""
    width, height = size
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en"><head><title></title>',
           '<meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>',
           '<meta name="ocr-system" content="juanzong-ppocr"/>',
           '<meta name="ocr-capabilities" content="ocr_page ocr_carea ocr_par ocr_line ocrx_word"/>',
           '</head><body>',
           f'<div class="ocr_page" id="page_1" title="bbox 0 0 {width} {height}; ppageno 0; scan_res {dpi} {dpi}">']
    for p, para in enumerate(blocks, 1):
        box = _bbox([line for row in para for line in row])
        out.append(f'<div class="ocr_carea" id="block_1_{p}" title="bbox {box}">')
        out.append(f'<p class="ocr_par" id="par_1_{p}" lang="{html.escape(language)}" title="bbox {box}">')
        for r, row in enumerate(para, 1):
            out.append(_line_hocr(f"{p}_{r}", row))
        out.append("</p></div>")
    out.append("</div></body></html>")
    path.write_text("\n".join(out), encoding="utf-8")


def _line_hocr(ident: str, row: list[TextLine]) -> str:
    x0, y0 = min(item.x0 for item in row), min(item.y0 for item in row)
    x1, y1 = max(item.x1 for item in row), max(item.y1 for item in row)
    size = max(1, y1 - y0)
    spans = [f'<span class="ocr_line" id="line_1_{ident}" title="bbox {x0} {y0} {x1} {y1}; baseline 0 '
             f'-{max(1, size // 5)}; x_size {size}; x_descenders {size // 5}; x_ascenders {size // 5}">']
    for w, word in enumerate(words(row), 1):
        spans.append(f'<span class="ocrx_word" id="word_1_{ident}_{w}" title="bbox {word.x0} {y0} '
                     f'{max(word.x1, word.x0 + 1)} {y1}; x_wconf {_percent(word.confidence)}">'
                     f"{html.escape(word.text)}</span>")
    spans.append("</span>")
    return "".join(spans)


def _bbox(lines: list[TextLine]) -> str:
    return (f"{min(item.x0 for item in lines)} {min(item.y0 for item in lines)} "
            f"{max(item.x1 for item in lines)} {max(item.y1 for item in lines)}")
