"""Which engine reads a page: Tesseract only, PP-OCR only, or hybrid (``OcrOptions.engine``).

Hybrid reads with Tesseract first and reads again with PP-OCR when Tesseract's page looks
doubtful: mean word confidence under ``hybrid_confidence``, no words at all, or lines
standing upright. The
default is the policy the benchmarks chose (README, OCR): see ``OcrOptions.engine``.
"""

from __future__ import annotations

from pathlib import Path

from ingest.ocr import _onnx, _ppocr
from ingest.ocr._engines import TesseractEngine
from ingest.ocr._ppocr_engine import PpOcrEngine
from ingest.ocr.engine import OcrEngine, Recognition
from ingest.ocr.options import OcrOptions

def ppocr_tuning(options: OcrOptions) -> _ppocr.Tuning:
    """Threads, provider and batch size from the options; zero or ``auto`` means computed."""
    provider = _onnx.choose_provider(options.onnx_provider)
    threads = options.onnx_threads or _onnx.default_threads(options.jobs)
    batch = options.ppocr_batch_size or default_batch_size(provider, threads)
    return _ppocr.Tuning(threads=threads, provider=provider, detect_side=options.ppocr_detect_side,
                         batch_size=batch)


def default_batch_size(provider: str, threads: int) -> int:
    """Lines per recogniser call. On one CPU thread batching only adds padding (measured:
    1 line 25 ms per 320 px of line, 8 lines 33 ms); more threads and a GPU need wider work."""
    if provider == _onnx.CUDA:
        return 32
    return 1 if threads == 1 else 4


class HybridEngine(OcrEngine):
    """Tesseract, then PP-OCR for the pages Tesseract is unsure of."""

    name = "hybrid"

    def __init__(self, options: OcrOptions) -> None:
        self.threshold = options.hybrid_confidence
        self.tesseract = TesseractEngine()
        self.ppocr = PpOcrEngine(ppocr_tuning(options))

    def version(self) -> str:
        return f"tesseract-{self.tesseract.version()}+{self.ppocr.version()}"

    def recognise(self, image: Path, out_base: Path, *, languages: str, dpi: int, timeout: float) -> Recognition:
        first = self.tesseract.recognise(image, out_base, languages=languages, dpi=dpi, timeout=timeout)
        if not self._doubtful(first):
            return first
        if first.hocr is not None:
            first.hocr.unlink(missing_ok=True)
        return self.ppocr.recognise(image, out_base, languages=languages, dpi=dpi, timeout=timeout)

    def detect_orientation(self, image: Path, *, dpi: int, timeout: float) -> int:
        return self.ppocr.detect_orientation(image, dpi=dpi, timeout=timeout)

    def _doubtful(self, reading: Recognition) -> bool:
        if reading.confidence is None or reading.sideways:
            return True
        return reading.confidence < self.threshold
