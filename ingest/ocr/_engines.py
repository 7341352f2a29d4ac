"""Two built-in engines: Tesseract, and null (no text) for born-digital files or OCR off."""

from __future__ import annotations

import re
from pathlib import Path

from ingest._exec import tesseract
from ingest.ocr.engine import OcrEngine, Recognition

_WCONF = re.compile(rb"class=['\"]ocrx_word['\"][^>]*?x_wconf (\d+)")
_LINE_BBOX = re.compile(rb"class=['\"](?:ocr_line|ocr_caption|ocr_header|ocr_textfloat)['\"][^>]*?bbox (\d+) (\d+) (\d+) (\d+)")


def mean_word_confidence(hocr: bytes) -> tuple[float | None, int]:
    """Mean of Tesseract's ``x_wconf`` over the page's words, and the word count."""
    confs = [int(m) for m in _WCONF.findall(hocr)]
    return (sum(confs) / len(confs) if confs else None), len(confs)


def is_sideways(hocr: bytes) -> bool:
    """Whether most text lines are tall and narrow: Tesseract read a page lying on its side."""
    boxes = [tuple(map(int, m)) for m in _LINE_BBOX.findall(hocr)]
    vertical = sum(1 for x0, y0, x1, y1 in boxes if (y1 - y0) > 2 * (x1 - x0))
    return bool(boxes) and vertical * 2 > len(boxes)


class TesseractEngine(OcrEngine):
    name = "tesseract"

    def version(self) -> str:
        return tesseract.version()

    def recognise(self, image: Path, out_base: Path, *, languages: str, dpi: int, timeout: float) -> Recognition:
        hocr, txt = tesseract.recognise(image, out_base, languages=languages, dpi=dpi, timeout=timeout)
        raw = hocr.read_bytes()
        confidence, words = mean_word_confidence(raw)
        text = txt.read_text(encoding="utf-8")
        txt.unlink()
        return Recognition(
            hocr=hocr if words else None, text=text, confidence=confidence, words=words, sideways=is_sideways(raw)
        )

    def detect_orientation(self, image: Path, *, dpi: int, timeout: float) -> int:
        rotate, _confidence = tesseract.orientation(image, dpi=dpi, timeout=timeout)
        return rotate


class NullEngine(OcrEngine):
    """Reads nothing: the PDF/A gets no text layer and every page empty text."""

    name = "null"

    def version(self) -> str:
        return "0"

    def recognise(self, image: Path, out_base: Path, *, languages: str, dpi: int, timeout: float) -> Recognition:
        return Recognition(hocr=None, text="", confidence=None, words=0)

    def detect_orientation(self, image: Path, *, dpi: int, timeout: float) -> int:
        return 0
