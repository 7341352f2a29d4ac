"""OCR stage: scanned documents -> PDF/A-2b with an invisible text layer, plus per-page text.

Public surface: ``ocr_documents``, ``OcrOptions``, the ``OcrEngine`` interface and its registry.
"""

from ingest.ocr._pipeline import has_text_layer, ocr_documents
from ingest.ocr.engine import OcrEngine, Recognition
from ingest.ocr.registry import get_engine, register
from ingest.ocr.options import OcrOptions

__all__ = ["OcrEngine", "OcrOptions", "Recognition", "get_engine", "has_text_layer", "ocr_documents", "register"]
