"""A worker's memory stays at its floor from document to document (``_heap``), and what keeps
it there does not cost the recogniser its CPU (``_onnx.session``'s arena)."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
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


_FAULTS_PER_PASS = """
import json, resource, sys
from pathlib import Path
import numpy as np
from ingest.ocr import _heap, _images, _ppocr
from ingest.ocr._page import prepare_image
from ingest.ocr.options import OcrOptions
_heap.fix_mmap_threshold()  # as in every OCR worker
image, _ = _images.load_page(Path(sys.argv[1]), 0)
grey = np.asarray(prepare_image(image, OcrOptions()))
tuning = _ppocr.Tuning()
boxes = _ppocr.find_lines(grey, tuning)
faults = []
for _ in range(3):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    _ppocr.read_lines(grey, boxes, tuning)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"lines": len(boxes), "faults": faults}))
"""


def test_reading_lines_again_faults_in_no_fresh_memory(ocr_sample: dict[str, Any]) -> None:
    """Without the recogniser's arena each line's activations were fresh mappings (a worker's
    mmap threshold is fixed), about 870 page faults a line, every line of every page: more
    CPU than the convolutions. With it, a page read again reuses the memory of the first."""
    run = subprocess.run([sys.executable, "-c", _FAULTS_PER_PASS, str(ocr_sample["files"]["mixed"])],
                         capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2])
    seen = json.loads(run.stdout)
    assert seen["lines"] >= 10
    assert seen["faults"][-1] < 200 * seen["lines"], seen
