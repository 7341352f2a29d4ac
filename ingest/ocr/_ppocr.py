"""PP-OCRv4 through ONNX Runtime: text lines found by the detector, read by the recogniser.

The wheel's own pipeline (``rapidocr_onnxruntime.RapidOCR``) is not used: it decodes the page
a second time, runs a line-direction model on every line, sorts lines by their top edge only
(tables and right-aligned blocks come out of order) and drops low-scoring lines, footers
among them. Only its detection post-processing (DB boxes) is borrowed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from rapidocr_onnxruntime.ch_ppocr_det.utils import DBPostProcess

from ingest.ocr import _onnx

REC_HEIGHT = 48  # the recogniser's input height
REC_MIN_WIDTH = 320
REC_STRIDE = 8  # input columns per output time step
LINE_MARGIN = 2  # pixels kept around a detected line when cutting it out


@dataclass(frozen=True)
class Glyph:
    """One recognised character: its text, left and right edge in the page image, probability."""

    text: str
    x0: int
    x1: int
    confidence: float


@dataclass(frozen=True)
class TextLine:
    """One detected line, axis-aligned in the (straightened) page image."""

    x0: int
    y0: int
    x1: int
    y1: int
    glyphs: tuple[Glyph, ...]

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def text(self) -> str:
        return "".join(g.text for g in self.glyphs)


@dataclass(frozen=True)
class Tuning:
    """How the models run; see ``OcrOptions`` for what each setting buys."""

    threads: int = 1
    provider: str = _onnx.CPU
    detect_side: int = 1600  # longest side of the page as the detector sees it, pixels
    batch_size: int = 8  # lines per recogniser call
    box_threshold: float = 0.5  # mean detector score a line needs


def find_lines(grey: np.ndarray, tuning: Tuning) -> list[tuple[int, int, int, int]]:
    """Axis-aligned boxes ``(x0, y0, x1, y1)`` of the page's text lines."""
    height, width = grey.shape
    scale = min(1.0, tuning.detect_side / max(height, width))
    h32, w32 = (max(32, round(v * scale / 32) * 32) for v in (height, width))
    small = cv2.resize(grey, (w32, h32), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    tensor = np.repeat(((small.astype(np.float32) / 255.0 - 0.5) / 0.5)[None, None], 3, axis=1)
    detector = _onnx.session(_onnx.DETECTION_MODEL, tuning.threads, tuning.provider)
    prediction = detector.run(None, {detector.get_inputs()[0].name: tensor})[0]
    post = DBPostProcess(thresh=0.3, box_thresh=tuning.box_threshold, max_candidates=1000, unclip_ratio=1.6,
                         use_dilation=True, score_mode="fast")
    quads, _scores = post(prediction, (height, width))
    boxes = []
    for quad in quads:
        x0, y0 = (int(v) for v in quad.min(axis=0))
        x1, y1 = (int(v) for v in quad.max(axis=0))
        if x1 - x0 > 3 and y1 - y0 > 3:
            boxes.append((max(0, x0 - LINE_MARGIN), max(0, y0 - LINE_MARGIN),
                          min(width, x1 + LINE_MARGIN), min(height, y1 + LINE_MARGIN)))
    return boxes


def find_short_lines(grey: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Boxes around ink the detector left out: glyph-sized marks outside every line it found.

    At the detector's scale a lone digit (a table's 序号 column, the page number of
    ``- 1 -``) is two or three pixels wide and falls under its size limit. Such marks are
    found as connected components of the ink, kept when they are as tall as text, and
    widened by a line height each side so neighbouring dashes and digits come along.
    """
    if not boxes:
        return []
    typical = int(np.median([y1 - y0 for _, y0, _, y1 in boxes]))
    ink = (grey < 128).astype(np.uint8)
    for x0, y0, x1, y1 in boxes:
        ink[y0:y1, x0:x1] = 0
    count, _labels, stats, _centroids = cv2.connectedComponentsWithStats(ink, connectivity=8)
    height, width = grey.shape
    found: list[list[int]] = []
    for x, y, w, h, _area in stats[1:count]:
        if not (0.4 * typical <= h <= 1.2 * typical and w <= 2 * typical):
            continue  # dust, table rules, scribbles
        centre = y + h // 2
        box = [max(0, x - typical), max(0, centre - typical // 2), min(width, x + w + typical),
               min(height, centre + typical // 2)]
        _merge(found, _clear_of(box, x, x + w, boxes))
    return [tuple(b) for b in found]


def _clear_of(box: list[int], left: int, right: int, lines: list[tuple[int, int, int, int]]) -> list[int]:
    """The widened box cut back so it takes in no part of a detected line beside the mark."""
    for x0, y0, x1, y1 in lines:
        if y0 < box[3] and box[1] < y1:
            if x1 <= left:
                box[0] = max(box[0], x1)
            elif x0 >= right:
                box[2] = min(box[2], x0)
    return box


def _merge(found: list[list[int]], box: list[int]) -> None:
    for other in found:
        if box[0] <= other[2] and other[0] <= box[2] and box[1] <= other[3] and other[1] <= box[3]:
            other[:] = [min(box[0], other[0]), min(box[1], other[1]), max(box[2], other[2]), max(box[3], other[3])]
            return
    found.append(box)


def read_lines(grey: np.ndarray, boxes: list[tuple[int, int, int, int]], tuning: Tuning) -> list[TextLine]:
    """Recognise each box (tall boxes are read turned, as vertical text); same order as ``boxes``."""
    recogniser = _onnx.session(_onnx.RECOGNITION_MODEL, tuning.threads, tuning.provider)
    alphabet = _onnx.character_list(recogniser)
    crops = [_line_image(grey, box) for box in boxes]
    order = sorted(range(len(crops)), key=lambda i: crops[i].shape[1] / crops[i].shape[0])
    lines: list[TextLine | None] = [None] * len(crops)
    for start in range(0, len(order), tuning.batch_size):
        chunk = order[start:start + tuning.batch_size]
        widths = [_scaled_width(crops[i]) for i in chunk]
        batch_width = max(REC_MIN_WIDTH, max(widths))
        tensor = np.zeros((len(chunk), 3, REC_HEIGHT, batch_width), dtype=np.float32)
        for row, (i, w) in enumerate(zip(chunk, widths, strict=True)):
            resized = cv2.resize(crops[i], (w, REC_HEIGHT), interpolation=cv2.INTER_LINEAR)
            tensor[row, :, :, :w] = (resized.astype(np.float32) / 255.0 - 0.5) / 0.5
        probabilities = recogniser.run(None, {recogniser.get_inputs()[0].name: tensor})[0]
        for row, (i, w) in enumerate(zip(chunk, widths, strict=True)):
            lines[i] = _decode(probabilities[row], alphabet, boxes[i], w)
    return [line for line in lines if line is not None]


def _line_image(grey: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    crop = grey[y0:y1, x0:x1]
    return np.rot90(crop) if crop.shape[0] >= 1.5 * crop.shape[1] else crop


def _scaled_width(crop: np.ndarray) -> int:
    return max(REC_HEIGHT // 4, math.ceil(REC_HEIGHT * crop.shape[1] / crop.shape[0]))


def _decode(steps: np.ndarray, alphabet: list[str], box: tuple[int, int, int, int], width: int) -> TextLine:
    """Greedy CTC: a character where the best class changes to a non-blank; its position is
    the span of its time steps, mapped back from the recogniser's input to the page."""
    best, prob = steps.argmax(axis=1), steps.max(axis=1)
    x0, y0, x1, y1 = box
    to_page = (x1 - x0) / width
    usable = math.ceil(width / REC_STRIDE)
    glyphs: list[list] = []
    previous = 0
    for t in range(min(len(best), usable)):
        k = int(best[t])
        if k != 0 and k != previous and k < len(alphabet):
            glyphs.append([alphabet[k], t, t, float(prob[t])])
        elif k != 0 and k == previous and glyphs:
            glyphs[-1][2] = t
        previous = k
    placed = []
    for n, (text, first, last, p) in enumerate(glyphs):
        left = 0 if n == 0 else (glyphs[n - 1][2] + first + 1) / 2
        right = usable if n == len(glyphs) - 1 else (last + glyphs[n + 1][1] + 1) / 2
        placed.append(Glyph(text=text, x0=x0 + round(left * REC_STRIDE * to_page),
                            x1=x0 + round(min(width, right * REC_STRIDE) * to_page), confidence=p))
    return TextLine(x0=x0, y0=y0, x1=x1, y1=y1, glyphs=tuple(placed))


DIRECTION_SHAPE = (48, 192)  # the direction model's input height and width
DIRECTION_SAMPLE = 12  # the widest lines of a page are enough to tell which way up it is


def upside_down_share(grey: np.ndarray, boxes: list[tuple[int, int, int, int]], tuning: Tuning) -> float:
    """Share of the page's widest horizontal lines that the direction model reads as turned
    by 180 degrees; 0.0 when there is no horizontal line to judge by."""
    wide = [b for b in boxes if (b[2] - b[0]) > (b[3] - b[1])]
    sample = sorted(wide, key=lambda b: b[2] - b[0], reverse=True)[:DIRECTION_SAMPLE]
    if not sample:
        return 0.0
    height, width = DIRECTION_SHAPE
    tensor = np.zeros((len(sample), 3, height, width), dtype=np.float32)
    for row, (x0, y0, x1, y1) in enumerate(sample):
        w = min(width, math.ceil(height * (x1 - x0) / (y1 - y0)))
        resized = cv2.resize(grey[y0:y1, x0:x1], (w, height), interpolation=cv2.INTER_LINEAR)
        tensor[row, :, :, :w] = (resized.astype(np.float32) / 255.0 - 0.5) / 0.5
    model = _onnx.session(_onnx.DIRECTION_MODEL, tuning.threads, tuning.provider)
    labels = model.run(None, {model.get_inputs()[0].name: tensor})[0].argmax(axis=1)
    return float(labels.mean())


def is_sideways(boxes: list[tuple[int, int, int, int]]) -> bool:
    """Whether most detected lines are tall and narrow: the page lies on its side."""
    tall = sum(1 for x0, y0, x1, y1 in boxes if (y1 - y0) > 2 * (x1 - x0))
    return bool(boxes) and tall * 2 > len(boxes)
