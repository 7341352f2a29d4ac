"""One page in a worker process: image out of the scan -> prepared copy -> engine -> outcome."""

from __future__ import annotations

import subprocess
from pathlib import Path

from PIL import Image
from pydantic import BaseModel, ConfigDict

from ingest.ocr import _heap, _images, typography
from ingest.ocr.engine import OcrEngine, Recognition
from ingest.ocr.registry import get_engine
from ingest.ocr.options import OcrOptions
from ingest.ocr.unsure import unsure_spans
from ingest.records import UnsureSpan

ORIENTATION_CHECK_CONFIDENCE = 70.0  # upright text reads above this; sideways or upside down far below


class PageTask(BaseModel):
    """Must be picklable: it crosses into the worker process."""

    model_config = ConfigDict(frozen=True)

    doc: int
    page: int  # 1-based
    source: Path
    out_dir: Path
    options: OcrOptions


class PageOutcome(BaseModel):
    """What the assembler needs from one page; small, so results never hold images."""

    model_config = ConfigDict(frozen=True)

    doc: int
    page: int
    text: str = ""
    confidence: float | None = None
    rotation: int = 0  # clockwise degrees applied to read upright
    skew: float = 0.0  # counter-clockwise degrees the engine's copy was straightened by
    flags: tuple[str, ...] = ()
    unsure: tuple[UnsureSpan, ...] = ()  # words read under the confidence threshold
    hocr: Path | None = None
    dpi: int = 0
    error: str | None = None


def ocr_page(task: PageTask) -> PageOutcome:
    """Never raises: a failing page comes back flagged ``ocr_failed`` with the reason."""
    try:
        return _ocr_page(task)
    except subprocess.TimeoutExpired:
        reason = f"page {task.page}: OCR timed out after {task.options.timeout_seconds}s"
    except Exception as exc:  # noqa: BLE001  any page failure is recorded, never lost
        reason = f"page {task.page}: {type(exc).__name__}: {exc}"
    finally:
        _heap.trim()
    return PageOutcome(doc=task.doc, page=task.page, flags=("ocr_failed",), error=reason)


def _ocr_page(task: PageTask) -> PageOutcome:
    options = task.options
    image, dpi = _images.load_page(task.source, task.page - 1)
    grey = prepare_image(image, options)
    del image
    if grey is None:
        return PageOutcome(doc=task.doc, page=task.page, flags=("blank",), dpi=dpi)
    engine = get_engine(options.engine, options)
    skew = _measure_skew(grey, options)
    base = task.out_dir / f"page_{task.page:04d}"
    reading = _recognise(engine, _images.straighten(grey, skew) if skew else grey, base, dpi, options)
    rotation = 0
    if _should_check_orientation(reading):
        rotation, reading, skew = _retry_upright(engine, grey, base, dpi, options, reading, skew)
    return _outcome(task, reading, rotation, skew, dpi)


def prepare_image(image: Image.Image, options: OcrOptions) -> Image.Image | None:
    """The grey copy every engine reads (seal ink whitened, paper whitened), or None for a
    blank sheet; straightening follows, once the skew is measured."""
    grey = _images.suppress_seal(image) if options.seal_suppression else image.convert("L")
    if _images.is_blank(grey):
        return None
    return _images.whiten_paper(grey) if options.clean else grey


def _measure_skew(grey: Image.Image, options: OcrOptions) -> float:
    skew = _images.detect_skew(grey) if options.deskew else 0.0
    return skew if abs(skew) >= _images.SKEW_MIN_DEG else 0.0


def _should_check_orientation(reading: Recognition) -> bool:
    """Upright pages read well and horizontally; only the others pay for OSD."""
    return (reading.sideways or reading.upside_down or reading.confidence is None
            or reading.confidence < ORIENTATION_CHECK_CONFIDENCE)


def _retry_upright(
    engine: OcrEngine, grey, base: Path, dpi: int, options: OcrOptions, first: Recognition, skew: float
) -> tuple[int, Recognition, float]:
    """Ask OSD only for pages whose first reading was poor; keep the better reading."""
    probe = base.with_suffix(".osd.pgm")
    grey.save(probe)
    rotation = engine.detect_orientation(probe, dpi=dpi, timeout=options.timeout_seconds)
    probe.unlink()
    if rotation == 0:
        return 0, first, skew
    upright = _images.turn_upright(grey, rotation)
    turned_skew = _measure_skew(upright, options)
    image = _images.straighten(upright, turned_skew) if turned_skew else upright
    second = _recognise(engine, image, base.with_name(base.name + "_r"), dpi, options)
    if first.sideways or first.upside_down or (second.confidence or 0) > (first.confidence or 0):
        return rotation, second, turned_skew
    return 0, first, skew


def _recognise(engine: OcrEngine, grey, base: Path, dpi: int, options: OcrOptions) -> Recognition:
    """Write the prepared copy uncompressed (PGM: no encoding cost), read it, delete it."""
    image_path = base.with_suffix(".pgm")
    grey.save(image_path)
    try:
        return engine.recognise(
            image_path, base, languages=options.languages, dpi=dpi, timeout=options.timeout_seconds
        )
    finally:
        image_path.unlink(missing_ok=True)


def _outcome(task: PageTask, reading: Recognition, rotation: int, skew: float, dpi: int) -> PageOutcome:
    flags = []
    if rotation:
        flags.append("rotated")
    if reading.confidence is None:
        unsure = task.options.engine != "null"  # ink on the page, yet no word read
    else:
        unsure = reading.confidence < task.options.confidence_threshold
    if unsure:
        flags.append("low_confidence")
    text, unsure = reading.text, ()
    if task.options.typography and reading.hocr is not None:
        pieces = typography.repair_hocr_pieces(reading.hocr)
        text = "".join(piece for piece, _ in pieces)
        unsure = unsure_spans(pieces, task.options.confidence_threshold)
    return PageOutcome(
        doc=task.doc,
        page=task.page,
        text=text,
        confidence=None if reading.confidence is None else round(reading.confidence, 2),
        rotation=rotation,
        skew=skew,
        flags=tuple(flags),
        unsure=unsure,
        hocr=reading.hocr,
        dpi=dpi,
    )
