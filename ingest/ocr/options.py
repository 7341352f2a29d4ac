"""OCR options: parsed once at the edge into a frozen model and passed down."""

from __future__ import annotations

import os

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from config.settings import Settings


class OcrOptions(BaseModel):
    """What the OCR stage needs to know; stages never read the environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    languages: str = "chi_sim"  # chi_sim alone: chi_sim+eng reads Chinese lines as Latin (issue 7)
    jobs: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    timeout_seconds: int = Field(default=180, ge=1)  # per Tesseract call, i.e. per page
    confidence_threshold: float = Field(default=60.0, ge=0, le=100)  # pages below are flagged for review
    seal_suppression: bool = True  # whiten red seal ink before recognition; the archived image keeps it
    deskew: bool = True  # straighten the image Tesseract reads; the archived image is not re-encoded
    clean: bool = True  # whiten the paper background of the copy Tesseract reads
    typography: bool = True  # repair brackets, title marks, unpaired quotes and table rules in the text
    engine: str = "ppocr"  # the policy: tesseract, ppocr, hybrid (``policy``), null, or a registered one
    hybrid_confidence: float = Field(default=90.0, ge=0, le=100)  # hybrid: Tesseract pages under it go to PP-OCR
    onnx_threads: int = Field(default=0, ge=0)  # per PP-OCR session; 0: cores / jobs
    onnx_provider: Literal["auto", "cpu", "cuda"] = "auto"  # auto: CUDA when onnxruntime-gpu sees a GPU
    ppocr_batch_size: int = Field(default=0, ge=0)  # lines per recogniser call; 0: from provider and threads
    ppocr_detect_side: int = Field(default=832, ge=320, le=4096)  # page's longest side for line detection

    @classmethod
    def from_settings(cls, settings: Settings) -> OcrOptions:
        """Every option from its ``ocr_``-prefixed setting."""
        values = {name: getattr(settings, f"ocr_{name}") for name in cls.model_fields}
        return cls(**{**values, "jobs": max(1, settings.ocr_jobs)})

    def as_event_options(self) -> dict[str, str]:
        """The options as strings, for the PREMIS event and ``OcrResult.options``."""
        keys = ("languages", "timeout_seconds", "confidence_threshold", "seal_suppression", "deskew", "clean",
                "typography", "engine", "hybrid_confidence", "ppocr_detect_side")
        return {k: str(getattr(self, k)) for k in keys}
