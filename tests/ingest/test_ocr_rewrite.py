"""The PP-OCR graphs as they run (``_rewrite``) read what the wheel's graphs read."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime
import pytest

from ingest.ocr import OcrOptions, _images, _onnx, _ppocr, _rewrite
from ingest.ocr._page import prepare_image

pytestmark = pytest.mark.slow


def _session(model: Path | bytes) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    source = model if isinstance(model, bytes) else str(model)
    return onnxruntime.InferenceSession(source, sess_options=options, providers=[_onnx.CPU])


@pytest.fixture(scope="module")
def page(ocr_sample: dict[str, Any]) -> np.ndarray:
    image, _dpi = _images.load_page(ocr_sample["files"]["mixed"], 0)
    return np.asarray(prepare_image(image, OcrOptions()))


@pytest.mark.parametrize("model", [_onnx.RECOGNITION_MODEL, _onnx.DETECTION_MODEL], ids=["rec", "det"])
def test_rewrite_removes_the_element_wise_chains(model: Path) -> None:
    import onnx

    before = Counter(n.op_type for n in onnx.load(str(model)).graph.node)
    after = Counter(n.op_type for n in _rewrite.rewritten(model).graph.node)
    assert after["HardSwish"] > 0 and after["Clip"] <= before["Clip"] - after["HardSwish"]
    assert after["Div"] <= before["Div"] - after["HardSwish"]
    assert after["Mul"] < before["Mul"] and after["Add"] < before["Add"]
    assert after["Conv"] == before["Conv"]


def test_rewritten_recogniser_gives_the_same_probabilities_and_text(page: np.ndarray) -> None:
    boxes = _ppocr.find_lines(page, _ppocr.Tuning())
    assert len(boxes) >= 5
    crops = [_ppocr._line_image(page, box) for box in boxes[:8]]
    widths = [_ppocr._scaled_width(c) for c in crops]
    tensor = np.zeros((len(crops), 3, _ppocr.REC_HEIGHT, max(_ppocr.REC_MIN_WIDTH, *widths)), np.float32)
    for row, (crop, width) in enumerate(zip(crops, widths, strict=True)):
        resized = cv2.resize(crop, (width, _ppocr.REC_HEIGHT)).astype(np.float32)
        tensor[row, :, :, :width] = (resized / 255.0 - 0.5) / 0.5
    original = _session(_onnx.RECOGNITION_MODEL)
    fused = _session(_rewrite.rewritten(_onnx.RECOGNITION_MODEL).SerializeToString())
    name = original.get_inputs()[0].name
    expected = original.run(None, {name: tensor})[0]
    got = fused.run(None, {name: tensor})[0]
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-4
    assert (got.argmax(axis=2) == expected.argmax(axis=2)).all()


def test_rewritten_detector_finds_the_same_lines(page: np.ndarray) -> None:
    tensor = np.repeat(((page[:640, :640].astype(np.float32) / 255.0 - 0.5) / 0.5)[None, None], 3, axis=1)
    original = _session(_onnx.DETECTION_MODEL)
    fused = _session(_rewrite.rewritten(_onnx.DETECTION_MODEL).SerializeToString())
    name = original.get_inputs()[0].name
    expected, got = original.run(None, {name: tensor})[0], fused.run(None, {name: tensor})[0]
    assert np.abs(got - expected).max() < 1e-4
    assert ((got > 0.3) == (expected > 0.3)).mean() > 0.9999
