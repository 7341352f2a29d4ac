"""The engine contract: every engine, fed the same prepared page, gives the same shape of
answer (hOCR words with boxes and confidences, page text, orientation) and the pipeline
gives its pages the same flags. One module, parametrised over the engines."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import img2pdf
import pikepdf
import pytest
from PIL import Image, ImageDraw

from ingest.ocr import OcrOptions, get_engine, ocr_documents, typography
from ingest.ocr import _images
from ingest.ocr._engines import mean_word_confidence
from ingest.ocr._page import prepare_image
from ingest.ocr._text_layer import read_hocr
from ingest.ocr.quality import cer

pytestmark = pytest.mark.slow

ENGINES = ["tesseract", "ppocr"]
_WORD = re.compile(r"class=['\"]ocrx_word['\"][^>]*?title=['\"]bbox (\d+) (\d+) (\d+) (\d+); x_wconf (\d+)")


@pytest.fixture(params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def prepared_page(ocr_sample: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The sample's plain page with the most text, prepared as the pipeline prepares it, as PGM."""
    plain = [n for n, seal in enumerate(ocr_sample["seal"]["mixed"]) if not seal]
    index = max(plain, key=lambda n: len(ocr_sample["truth"]["mixed"][n]))
    image, dpi = _images.load_page(ocr_sample["files"]["mixed"], index)
    grey = prepare_image(image, OcrOptions())
    grey = _images.straighten(grey, _images.detect_skew(grey))
    path = tmp_path_factory.mktemp("prepared") / "page.pgm"
    grey.save(path)
    return {"path": path, "dpi": dpi, "size": grey.size, "truth": ocr_sample["truth"]["mixed"][index]}


def _read(engine_name: str, image: Path, dpi: int, out: Path):
    engine = get_engine(engine_name, OcrOptions(jobs=1))
    return engine.recognise(image, out / "page", languages="chi_sim", dpi=dpi, timeout=120)


def test_reading_is_hocr_words_with_boxes_and_confidences(
    engine_name: str, prepared_page: dict[str, Any], tmp_path: Path
) -> None:
    reading = _read(engine_name, prepared_page["path"], prepared_page["dpi"], tmp_path)
    assert reading.hocr == tmp_path / "page.hocr"
    assert {p.name for p in tmp_path.iterdir()} <= {"page.hocr", "page.txt"}
    raw = reading.hocr.read_text(encoding="utf-8")
    words = [tuple(map(int, m)) for m in _WORD.findall(raw)]
    width, height = prepared_page["size"]
    assert len(words) == reading.words > 200
    assert all(0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height and 0 <= c <= 100 for x0, y0, x1, y1, c in words)
    assert reading.confidence == pytest.approx(mean_word_confidence(raw.encode())[0])
    assert 60 < reading.confidence <= 100 and not reading.sideways and not reading.upside_down
    page, lines = read_hocr(reading.hocr)  # as the text layer's renderer reads it
    assert (page.left, page.top, page.right, page.bottom) == (0, 0, width, height)
    assert sum(len(line.words) for line in lines) == len(words)


def test_page_text_and_repaired_hocr_agree_with_the_truth(
    engine_name: str, prepared_page: dict[str, Any], tmp_path: Path
) -> None:
    reading = _read(engine_name, prepared_page["path"], prepared_page["dpi"], tmp_path)
    assert cer(prepared_page["truth"], reading.text) <= 0.05
    assert cer(prepared_page["truth"], typography.repair_hocr(reading.hocr)) <= 0.05


@pytest.mark.parametrize(("turned", "correction"), [(0, 0), (90, 270), (180, 180)])
def test_orientation_is_the_clockwise_turn_back_to_upright(
    engine_name: str, prepared_page: dict[str, Any], tmp_path: Path, turned: int, correction: int
) -> None:
    image = tmp_path / "turned.pgm"
    with Image.open(prepared_page["path"]) as grey:
        _images.turn_upright(grey, turned).save(image)
    engine = get_engine(engine_name, OcrOptions(jobs=1))
    assert engine.detect_orientation(image, dpi=prepared_page["dpi"], timeout=120) == correction


def test_sideways_page_is_reported(engine_name: str, prepared_page: dict[str, Any], tmp_path: Path) -> None:
    image = tmp_path / "sideways.pgm"
    with Image.open(prepared_page["path"]) as grey:
        _images.turn_upright(grey, 90).save(image)
    reading = _read(engine_name, image, prepared_page["dpi"], tmp_path)
    assert reading.sideways or reading.confidence is None or reading.confidence < 70


def test_empty_image_reads_as_nothing_without_error(engine_name: str, tmp_path: Path) -> None:
    image = tmp_path / "empty.pgm"
    Image.new("L", (1654, 2339), 255).save(image)
    reading = _read(engine_name, image, 200, tmp_path)
    assert (reading.hocr, reading.text.strip(), reading.confidence, reading.words) == (None, "", None, 0)


def _page_jpeg(draw_on) -> bytes:
    """An A4 colour scan at 200 dpi of paper with whatever ``draw_on`` puts on it."""
    page = Image.new("RGB", (1654, 2339), (236, 234, 228))
    draw_on(ImageDraw.Draw(page))
    out = io.BytesIO()
    page.save(out, "JPEG", quality=85, dpi=(200, 200))
    return out.getvalue()


def _seal(draw: ImageDraw.ImageDraw) -> None:
    draw.ellipse((600, 900, 1050, 1350), outline=(205, 30, 35), width=14)
    draw.regular_polygon((825, 1125, 90), 5, fill=(205, 30, 35))


def _specks(draw: ImageDraw.ImageDraw) -> None:
    for n in range(40):
        x, y = 200 + (n * 271) % 1200, 300 + (n * 397) % 1700
        draw.ellipse((x, y, x + 9, y + 7), fill=(40, 40, 40))


def test_pages_an_engine_cannot_read_are_flagged_and_the_document_is_done(
    engine_name: str, ocr_sample: dict[str, Any], tmp_path: Path
) -> None:
    """Blank, all-seal and noise-only pages beside a real one: each is flagged for review."""
    scan = tmp_path / "unreadable.pdf"
    scan.write_bytes(img2pdf.convert([_page_jpeg(lambda d: None), _page_jpeg(_seal), _page_jpeg(_specks)]))
    with pikepdf.open(scan, allow_overwriting_input=True) as pdf, pikepdf.open(ocr_sample["files"]["mixed"]) as src:
        pdf.pages.append(src.pages[-1])
        pdf.save(scan)
    options = OcrOptions(jobs=2, engine=engine_name)
    (result,) = ocr_documents([("unreadable.pdf", scan)], tmp_path / "work", options)
    assert result.status == "done" and result.pdfa is not None, result.error
    blank, seal, specks, real = result.pages
    assert "blank" in blank.flags and "blank" in seal.flags
    assert {"blank", "low_confidence"} & set(specks.flags)
    assert real.text.strip() and "ocr_failed" not in real.flags


@pytest.mark.parametrize(("name", "upright_turns"), [("rotated_90", {270}), ("rotated_180", {180})])
def test_rotated_page_comes_out_upright_with_its_text(
    engine_name: str, ocr_sample: dict[str, Any], tmp_path: Path, name: str, upright_turns: set[int]
) -> None:
    options = OcrOptions(jobs=1, engine=engine_name)
    (result,) = ocr_documents([(name, ocr_sample["files"][name])], tmp_path / "work", options)
    page = result.pages[0]
    assert page.rotation in upright_turns and "rotated" in page.flags
    assert cer(ocr_sample["truth"][name][0], page.text) <= 0.05


@pytest.mark.parametrize(("threshold", "reader"), [(0, "tesseract"), (100, "ppocr")])
def test_hybrid_reads_again_with_ppocr_only_pages_tesseract_is_unsure_of(
    prepared_page: dict[str, Any], tmp_path: Path, threshold: float, reader: str
) -> None:
    engine = get_engine("hybrid", OcrOptions(jobs=1, hybrid_confidence=threshold))
    reading = engine.recognise(prepared_page["path"], tmp_path / "page", languages="chi_sim",
                               dpi=prepared_page["dpi"], timeout=120)
    assert ('content="juanzong-ppocr"' in reading.hocr.read_text(encoding="utf-8")) == (reader == "ppocr")
    assert [p.name for p in tmp_path.iterdir()] == ["page.hocr"]
    assert cer(prepared_page["truth"], reading.text) <= 0.05


def test_a_language_the_engine_cannot_read_fails_the_page_not_the_batch(
    engine_name: str, ocr_sample: dict[str, Any], tmp_path: Path
) -> None:
    options = OcrOptions(jobs=1, engine=engine_name, languages="zzz")
    (result,) = ocr_documents([("rotated_180", ocr_sample["files"]["rotated_180"])], tmp_path / "work", options)
    assert result.status == "failed" and result.pdfa is None
    assert [p.flags for p in result.pages] == [("ocr_failed",)]
