"""The words the engine was unsure of, as character spans of the page text, so the review page
can mark them where the archivist reads (issue 17: "low-confidence words marked").

The spans are found by rebuilding the page text from the hOCR exactly as
``typography.repair_hocr`` builds it (paragraphs by a blank line, lines by a newline, words by
``join_words``) and noting where each word with ``x_wconf`` under the threshold lands. Adjacent
unsure words join into one span: Tesseract cuts Chinese into one-character words, and a reader
wants to see "张三丰" marked, not three marks. If the rebuilt text is not the page's text (the
typography pass was off), no spans are claimed rather than wrong ones."""

from __future__ import annotations

import re
from pathlib import Path

from lxml import etree

from ingest.ocr.typography import PAR_XPATH, WORD_XPATH, join_words, line_elements, word_text
from ingest.records import UnsureSpan

_WCONF = re.compile(r"x_wconf (\d+)")


def unsure_spans(hocr: Path, text: str, threshold: float) -> tuple[UnsureSpan, ...]:
    """Spans of ``text`` whose words ``hocr`` gives a confidence under ``threshold``."""
    pieces = _pieces(etree.parse(str(hocr)))
    if "".join(p for p, _ in pieces) != text:
        return ()
    spans: list[UnsureSpan] = []
    at = 0
    for piece, conf in pieces:
        if conf is not None and conf < threshold:
            last = spans[-1] if spans else None
            if last is not None and last.end == at:
                spans[-1] = UnsureSpan(start=last.start, end=at + len(piece), confidence=min(last.confidence, conf))
            else:
                spans.append(UnsureSpan(start=at, end=at + len(piece), confidence=conf))
        at += len(piece)
    return tuple(spans)


def _pieces(tree) -> list[tuple[str, int | None]]:
    """The page text as (piece, confidence) in order: separators carry None."""
    pieces: list[tuple[str, int | None]] = []
    paragraphs = []
    for par in tree.xpath(PAR_XPATH):
        lines = []
        for line in line_elements(par):
            words = [(t, _confidence(w)) for w in line.xpath(WORD_XPATH) if (t := word_text(w))]
            if words:
                lines.append(words)
        if lines:
            paragraphs.append(lines)
    for p, lines in enumerate(paragraphs):
        if p:
            pieces.append(("\n\n", None))
        for n, words in enumerate(lines):
            if n:
                pieces.append(("\n", None))
            joined = ""
            for word, conf in words:
                spaced = join_words([joined[-1:], word])[1:] if joined else word
                if len(spaced) > len(word):
                    pieces.append((" ", None))
                pieces.append((word, conf))
                joined += spaced
    pieces.append(("\n", None))
    return pieces


def _confidence(word) -> int | None:
    match = _WCONF.search(word.get("title", ""))
    return int(match.group(1)) if match else None
