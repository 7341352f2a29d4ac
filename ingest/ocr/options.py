"""OCR options: parsed once at the edge into a frozen model and passed down."""

from __future__ import annotations

import os

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
    engine: str = "tesseract"

    @classmethod
    def from_settings(cls, settings: Settings) -> OcrOptions:
        return cls(
            languages=settings.ocr_languages,
            jobs=max(1, settings.ocr_jobs),
            timeout_seconds=settings.ocr_timeout_seconds,
            confidence_threshold=settings.ocr_confidence_threshold,
            seal_suppression=settings.ocr_seal_suppression,
            deskew=settings.ocr_deskew,
            clean=settings.ocr_clean,
            typography=settings.ocr_typography,
        )

    def as_event_options(self) -> dict[str, str]:
        """The options as strings, for the PREMIS event and ``OcrResult.options``."""
        keys = ("languages", "timeout_seconds", "confidence_threshold", "seal_suppression", "deskew", "clean",
                "typography")
        return {k: str(getattr(self, k)) for k in keys}
