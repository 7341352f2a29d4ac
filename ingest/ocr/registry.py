"""Engines by name (``OcrOptions.engine``): the built-in ones and any registered by a plug-in.

Each factory takes the OCR options, so an engine can size itself (threads, execution
provider) from them; it is called once per page in the worker, so it must be cheap.
"""

from __future__ import annotations

from collections.abc import Callable

from ingest.ocr._engines import NullEngine, TesseractEngine
from ingest.ocr._ppocr_engine import PpOcrEngine
from ingest.ocr.engine import OcrEngine
from ingest.ocr.options import OcrOptions
from ingest.ocr.policy import HybridEngine, ppocr_tuning

EngineFactory = Callable[[OcrOptions], OcrEngine]

_REGISTRY: dict[str, EngineFactory] = {
    "tesseract": lambda options: TesseractEngine(),
    "null": lambda options: NullEngine(),
    "ppocr": lambda options: PpOcrEngine(ppocr_tuning(options)),
    "hybrid": lambda options: HybridEngine(options),
}


def register(name: str, factory: EngineFactory) -> None:
    """Make an engine selectable by name; ``factory(options)`` builds it."""
    _REGISTRY[name] = factory


def get_engine(name: str, options: OcrOptions | None = None) -> OcrEngine:
    """The engine registered as ``name``, built for ``options``; KeyError lists the known names."""
    if name not in _REGISTRY:
        raise KeyError(f"OCR engine {name!r} is not registered; known: {sorted(_REGISTRY)}")
    return _REGISTRY[name](options or OcrOptions())
