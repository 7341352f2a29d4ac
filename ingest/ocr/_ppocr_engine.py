"""The PP-OCR engine: PP-OCRv4 detection and recognition on ONNX Runtime, hOCR like Tesseract's.

Runs in the worker process itself (no external program): the models' sessions are built
once per worker (``_onnx.session``) and kept, and each runs on ``Tuning.threads`` threads,
one by default since the pipeline already reads one page per core.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime
from PIL import Image

from ingest.ocr import _layout, _onnx, _ppocr
from ingest.ocr.engine import OcrEngine, Recognition

LANGUAGES = {"chi_sim", "eng"}  # the PP-OCRv4 Chinese model's alphabet: simplified Chinese, Latin, digits
UPSIDE_DOWN_SHARE = 0.5  # more of the sampled lines read as turned than not: the page is upside down
MIN_LINE_CONFIDENCE = 0.3  # mean character probability under which a detected line is noise
MIN_SHORT_CONFIDENCE = 0.6  # the same for marks the detector missed: specks and seal remnants read badly


class PpOcrEngine(OcrEngine):
    name = "ppocr"

    def __init__(self, tuning: _ppocr.Tuning | None = None) -> None:
        self.tuning = tuning or _ppocr.Tuning()

    def version(self) -> str:
        """No spaces: it becomes part of the PREMIS agent's identifier. Names the rewrite too
        (``_rewrite``, through the ``onnx`` package's opset converter): same algebra, its own
        float rounding."""
        device = "cuda" if self.tuning.provider == _onnx.CUDA else "cpu"
        return (f"PP-OCRv4_rapidocr-{_package_version()}_onnxruntime-{onnxruntime.__version__}_{device}"
                f"_rewritten-onnx-{_package_version('onnx')}")

    def recognise(self, image: Path, out_base: Path, *, languages: str, dpi: int, timeout: float) -> Recognition:
        """Raises ValueError for languages the Chinese model cannot read (the page is then
        ``ocr_failed`` and can be retried), as Tesseract fails without their traineddata."""
        if not set(languages.split("+")) <= LANGUAGES:
            raise ValueError(f"PP-OCR's Chinese model reads {'+'.join(sorted(LANGUAGES))}, not {languages!r}")
        grey = _load(image)
        boxes = _ppocr.find_lines(grey, self.tuning)
        sideways = _ppocr.is_sideways(boxes)
        upside_down = not sideways and _ppocr.upside_down_share(grey, boxes, self.tuning) > UPSIDE_DOWN_SHARE
        lines = [line for line in _ppocr.read_lines(grey, boxes, self.tuning) if _keeps(line, MIN_LINE_CONFIDENCE)]
        short = _ppocr.find_short_lines(grey, boxes)
        lines += [line for line in _ppocr.read_lines(grey, short, self.tuning) if _keeps(line, MIN_SHORT_CONFIDENCE)]
        if not lines:
            return Recognition(hocr=None, text="", confidence=None, words=0, sideways=sideways,
                               upside_down=upside_down)
        blocks = _layout.paragraphs(_layout.rows(lines, _layout.find_rules(grey)))
        hocr = out_base.with_suffix(".hocr")
        _layout.write_hocr(hocr, blocks, (grey.shape[1], grey.shape[0]), dpi, languages)
        confidences = _layout.word_confidences(blocks)  # as in the hOCR, so both agree
        return Recognition(hocr=hocr, text=_layout.page_text(blocks),
                           confidence=sum(confidences) / len(confidences), words=len(confidences),
                           sideways=sideways, upside_down=upside_down)

    def detect_orientation(self, image: Path, *, dpi: int, timeout: float) -> int:
        """Lines standing upright mean a page on its side (turn by 90 first); the direction
        model then tells whether the horizontal lines are upside down (a further 180)."""
        grey = _load(image)
        boxes = _ppocr.find_lines(grey, self.tuning)
        turn = 0
        if _ppocr.is_sideways(boxes):
            turn, grey = 90, np.ascontiguousarray(np.rot90(grey, k=-1))
            boxes = _ppocr.find_lines(grey, self.tuning)
        if _ppocr.upside_down_share(grey, boxes, self.tuning) > UPSIDE_DOWN_SHARE:
            turn += 180
        return turn % 360


def _keeps(line: _ppocr.TextLine, threshold: float) -> bool:
    """A line with characters whose mean probability is not noise-level."""
    return bool(line.glyphs) and sum(g.confidence for g in line.glyphs) / len(line.glyphs) >= threshold


def _load(image: Path) -> np.ndarray:
    with Image.open(image) as img:
        return np.asarray(img.convert("L"))


def _package_version(name: str = "rapidocr-onnxruntime") -> str:
    from importlib.metadata import version

    return version(name)
