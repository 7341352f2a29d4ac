"""A worker's memory stays at its floor from document to document (``_heap``)."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pikepdf
import pytest

from ingest.ocr import OcrOptions
from ingest.ocr._page import PageTask, ocr_page
from ingest.ocr._pipeline import DocumentPlan, assemble_document

pytestmark = pytest.mark.slow


def test_assembling_a_document_leaves_no_cyclic_garbage(ocr_sample: dict[str, Any], tmp_path: Path) -> None:
    """Without a collection per document the text layer's fpdf2 and fontTools objects waited
    for the oldest generation's collection, and a long batch's workers grew in a saw tooth."""
    source = ocr_sample["files"]["rotated_180"]
    with pikepdf.open(source) as pdf:
        count = len(pdf.pages)
    options = OcrOptions(jobs=1, engine="tesseract")
    pages = [ocr_page(PageTask(doc=0, page=n, source=source, out_dir=tmp_path, options=options))
             for n in range(1, count + 1)]
    assert all(p.hocr is not None for p in pages)
    plan = DocumentPlan(index=0, source_path="doc.pdf", original=source, out_dir=tmp_path, page_count=count)
    gc.collect()
    gc.disable()
    try:
        done = assemble_document(plan, pages)
        left = gc.collect()
    finally:
        gc.enable()
    assert done.error is None and done.pdfa is not None and done.pdfa.is_file()
    assert left < 50, f"{left} objects in reference cycles left by one document's assembly"
