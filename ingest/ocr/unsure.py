"""The words the engine was unsure of, as character spans of the page text, so the review page
can mark them where the archivist reads (issue 17: "low-confidence words marked").

The page text and each word's confidence come from one pass over the hOCR
(``typography.repair_hocr_pieces``). Adjacent unsure words join into one span: Tesseract cuts
Chinese into one-character words, and a reader wants to see "张三丰" marked, not three marks."""

from __future__ import annotations

from collections.abc import Sequence

from ingest.ocr.typography import Piece
from ingest.records import UnsureSpan


def unsure_spans(pieces: Sequence[Piece], threshold: float) -> tuple[UnsureSpan, ...]:
    """Spans of ``"".join(pieces)`` whose words have a confidence under ``threshold``."""
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
