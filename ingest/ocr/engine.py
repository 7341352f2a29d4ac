"""The OCR engine interface (OCRmyPDF ``pluginspec.OcrEngine``); the registry is ``registry``.

Engines run inside worker processes, one page at a time. The pipeline, not the engine,
decides parallelism, image preparation and PDF assembly. This module imports no engine, so
engines can import it without a circle.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
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
    upside_down: bool = False  # the engine can tell the lines were read turned by 180 degrees


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
        named ``out_base.*``; must not start more threads or processes than its options allow
        (one each by default), since the pipeline already runs one page per core."""

    @abstractmethod
    def detect_orientation(self, image: Path, *, dpi: int, timeout: float) -> int:
        """Clockwise degrees (0, 90, 180, 270) to turn the page upright. Runs in a worker,
        only for pages whose first reading looked wrong; must not modify ``image``."""
