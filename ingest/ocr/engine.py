"""The OCR engine interface and its registry (OCRmyPDF ``pluginspec.OcrEngine``).

Engines run inside worker processes, one page at a time. The pipeline, not the engine,
decides parallelism, image preparation and PDF assembly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict


class Recognition(BaseModel):
    """One page as the engine read it: hOCR for the text layer, text, mean word confidence."""

    model_config = ConfigDict(frozen=True)

    hocr: Path | None
    text: str
    confidence: float | None
    words: int
    sideways: bool = False  # most text lines run vertically: the page was read turned by 90 degrees


class OcrEngine(ABC):
    """Reads page images. Implementations must be picklable and stateless."""

    name: str

    @abstractmethod
    def version(self) -> str:
        """The engine's version for the PREMIS event. Runs in the parent process, once per
        batch; may start the external program; must not read page images."""

    @abstractmethod
    def recognise(self, image: Path, out_base: Path, *, languages: str, dpi: int, timeout: float) -> Recognition:
        """Read one upright grey page image. Runs in a worker process; writes only files
        named ``out_base.*``; must not start threads or more processes than one engine call,
        since the pipeline already runs one page per core."""

    @abstractmethod
    def detect_orientation(self, image: Path, *, dpi: int, timeout: float) -> int:
        """Clockwise degrees (0, 90, 180, 270) to turn the page upright. Runs in a worker,
        only for pages whose first reading looked wrong; must not modify ``image``."""


_REGISTRY: dict[str, Callable[[], OcrEngine]] = {}


def register(name: str, factory: Callable[[], OcrEngine]) -> None:
    """Make an engine selectable by name (``OcrOptions.engine``)."""
    _REGISTRY[name] = factory


def get_engine(name: str) -> OcrEngine:
    """The engine registered as ``name``; KeyError lists the known names."""
    from ingest.ocr import _engines  # noqa: F401  registers the built-in engines

    if name not in _REGISTRY:
        raise KeyError(f"OCR engine {name!r} is not registered; known: {sorted(_REGISTRY)}")
    return _REGISTRY[name]()
