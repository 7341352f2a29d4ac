"""The OCR stage against real Tesseract and qpdf on a few corpus pages."""

from __future__ import annotations

import hashlib
import os
import subprocess
from io import BytesIO
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from PIL import Image

from config.settings import Settings, SettingsError, load_settings
from ingest._exec import qpdf, tesseract
from ingest.ocr import OcrOptions, get_engine, ocr_documents
from ingest.ocr import _images
from ingest.ocr._engines import is_sideways, mean_word_confidence
from ingest.ocr._onnx import CPU, CUDA, choose_provider, default_threads
from ingest.ocr.policy import default_batch_size, ppocr_tuning
from ingest.ocr.quality import char_errors
from ingest.records import OcrResult
from tests.ingest.conftest import batch_page_jpeg, batch_page_pdf

pytestmark = pytest.mark.slow


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def ocr_run(ocr_sample: dict[str, Any], ocr_born_digital: Path, ocr_corrupt: Path,
            tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    files = [(name, path) for name, path in ocr_sample["files"].items()]
    files += [("born_digital.pdf", ocr_born_digital), ("broken.pdf", ocr_corrupt)]
    before = {name: _sha256(path) for name, path in files}
    work = tmp_path_factory.mktemp("ocr-work")
    results = ocr_documents(files, work, OcrOptions(jobs=2))
    return {"results": {r.source_path: r for r in results}, "order": [r.source_path for r in results],
            "files": dict(files), "before": before, "work": work}


def _weighted_cer(pairs: list[tuple[str, str]]) -> float:
    edits = length = 0
    for ref, hyp in pairs:
        e, n = char_errors(ref, hyp)
        edits, length = edits + e, length + n
    return edits / max(1, length)


def test_one_result_per_file_in_order_with_expected_status(ocr_run: dict[str, Any]) -> None:
    assert ocr_run["order"] == list(ocr_run["files"])
    status = {name: r.status for name, r in ocr_run["results"].items()}
    assert status == {"rotated_90": "done", "rotated_180": "done", "mixed": "done",
                      "born_digital.pdf": "skipped_has_text", "broken.pdf": "failed"}


def test_failed_document_names_file_and_has_no_pdfa(ocr_run: dict[str, Any]) -> None:
    broken: OcrResult = ocr_run["results"]["broken.pdf"]
    assert broken.pdfa is None and broken.error and "broken.pdf" in broken.error


def test_born_digital_text_is_extracted_not_ocrd(ocr_run: dict[str, Any]) -> None:
    born: OcrResult = ocr_run["results"]["born_digital.pdf"]
    assert [p.page for p in born.pages] == [1, 2]
    assert "page 2: the appeal is dismissed" in born.pages[1].text


def test_originals_are_byte_identical_and_outputs_stay_in_work_dir(ocr_run: dict[str, Any]) -> None:
    assert {n: _sha256(p) for n, p in ocr_run["files"].items()} == ocr_run["before"]
    for result in ocr_run["results"].values():
        if result.pdfa is not None:
            assert result.pdfa.is_relative_to(ocr_run["work"])


@pytest.mark.parametrize("name", ["rotated_90", "rotated_180", "mixed"])
def test_pdfa_passes_qpdf_and_declares_pdfa_2b(ocr_run: dict[str, Any], name: str) -> None:
    pdfa = ocr_run["results"][name].pdfa
    ok, report = qpdf.check(pdfa)
    assert ok, report
    with pikepdf.open(pdfa) as pdf:
        meta = pdf.open_metadata()
        assert (meta["pdfaid:part"], meta["pdfaid:conformance"]) == ("2", "B")


def test_unrotated_page_images_are_kept_without_reencoding(ocr_run: dict[str, Any]) -> None:
    source, pdfa = ocr_run["files"]["mixed"], ocr_run["results"]["mixed"].pdfa
    with pikepdf.open(source) as src, pikepdf.open(pdfa) as out:
        for page_in, page_out in zip(src.pages, out.pages, strict=True):
            raw_in = [i.read_raw_bytes() for i in page_in.images.values()]
            raw_out = [i.read_raw_bytes() for i in page_out.images.values()]
            assert raw_in == raw_out


@pytest.mark.parametrize(("name", "upright_turns"), [("rotated_90", {270}), ("rotated_180", {180})])
def test_rotated_page_comes_out_upright_with_correct_text(
    ocr_run: dict[str, Any], ocr_sample: dict[str, Any], name: str, upright_turns: set[int], tmp_path: Path
) -> None:
    result: OcrResult = ocr_run["results"][name]
    page = result.pages[0]
    assert page.rotation in upright_turns and "rotated" in page.flags
    assert _weighted_cer([(ocr_sample["truth"][name][0], page.text)]) <= 0.05
    subprocess.run(["pdftoppm", "-r", "10", "-png", "-singlefile", str(result.pdfa), str(tmp_path / "p")],
                   check=True)
    with Image.open(tmp_path / "p.png") as rendered:
        assert rendered.height > rendered.width  # A4 portrait as displayed
    # -raw keeps the text layer's own order; pdftotext's layout order splits mixed-height lines
    layer = subprocess.run(["pdftotext", "-raw", str(result.pdfa), "-"], capture_output=True,
                           check=True).stdout.decode()
    assert _weighted_cer([(ocr_sample["truth"][name][0], layer)]) <= 0.05


@pytest.fixture(scope="session")
def tesseract_only(ocr_sample: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> OcrResult:
    """The mixed pages read by the Tesseract-only policy, for comparison with the default."""
    (result,) = ocr_documents([("mixed", ocr_sample["files"]["mixed"])], tmp_path_factory.mktemp("tess-only"),
                              OcrOptions(jobs=2, engine="tesseract"))
    return result


def test_accuracy_meets_issue_goals_and_beats_tesseract(
    ocr_run: dict[str, Any], ocr_sample: dict[str, Any], tesseract_only: OcrResult, tmp_path: Path
) -> None:
    ours, bare, tess, seal_ours, seal_bare = [], [], [], [], []
    source = ocr_sample["files"]["mixed"]
    pages = zip(ocr_run["results"]["mixed"].pages, tesseract_only.pages, ocr_sample["truth"]["mixed"],
                ocr_sample["seal"]["mixed"], strict=True)
    for page, tess_page, truth, is_seal in pages:
        bare_text = _bare_tesseract(source, page.page, tmp_path)
        ours.append((truth, page.text))
        bare.append((truth, bare_text))
        tess.append((truth, tess_page.text))
        if is_seal:
            seal_ours.append((truth, page.text))
            seal_bare.append((truth, bare_text))
    for name in ("rotated_90", "rotated_180"):
        ours.append((ocr_sample["truth"][name][0], ocr_run["results"][name].pages[0].text))
    # Issue 18: the default policy at weighted CER <= 1 % at 200 dpi, <= 2.5 % on the pages with a
    # seal, better than the Tesseract-only policy on the same pages; issue 7: better than bare Tesseract.
    assert _weighted_cer(ours) <= 0.01
    assert seal_ours and _weighted_cer(seal_ours) <= 0.025
    assert _weighted_cer(ours[: len(tess)]) < _weighted_cer(tess)
    assert _weighted_cer(seal_ours) < _weighted_cer(seal_bare)
    assert _weighted_cer(ours[: len(bare)]) < _weighted_cer(bare)


def _bare_tesseract(pdf: Path, page: int, tmp_path: Path) -> str:
    """Bare Tesseract on the scan's own image, as the issue's baseline."""
    with pikepdf.open(pdf) as doc:
        image = pikepdf.PdfImage(next(iter(doc.pages[page - 1].images.values())))
        path = Path(image.extract_to(fileprefix=str(tmp_path / f"bare_{page}")))
    return subprocess.run(["tesseract", str(path), "-", "-l", "chi_sim", "--dpi", "200"], capture_output=True,
                          check=True, env={"OMP_THREAD_LIMIT": "1", "PATH": "/usr/bin:/bin"}).stdout.decode()


def test_page_records_carry_confidence_and_flags(ocr_run: dict[str, Any]) -> None:
    for page in ocr_run["results"]["mixed"].pages:
        assert page.confidence is not None and 0 < page.confidence <= 100
        assert ("low_confidence" in page.flags) == (page.confidence < 60)


def test_null_engine_makes_pdfa_without_text(tmp_path: Path) -> None:
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(batch_page_pdf(pages=2))
    (result,) = ocr_documents([("scan.pdf", scan)], tmp_path / "work", OcrOptions(jobs=1, engine="null"))
    assert result.status == "done" and result.engine == "null"
    assert [p.text for p in result.pages] == ["", ""]
    assert qpdf.check(result.pdfa)[0]


def test_unknown_engine_is_refused_by_name() -> None:
    with pytest.raises(KeyError, match="nope"):
        get_engine("nope")


def test_options_come_from_settings(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, ocr_languages="chi_sim", ocr_jobs=3, ocr_timeout_seconds=9,
                        ocr_confidence_threshold=55, ocr_deskew=False, ocr_clean=False, ocr_engine="hybrid",
                        ocr_hybrid_confidence=85, ocr_onnx_threads=2, ocr_onnx_provider="cpu",
                        ocr_ppocr_batch_size=4, ocr_ppocr_detect_side=1024)
    options = OcrOptions.from_settings(settings)
    assert (options.languages, options.jobs, options.timeout_seconds, options.confidence_threshold) == (
        "chi_sim", 3, 9, 55)
    assert (options.seal_suppression, options.deskew, options.clean, options.typography) == (True, False, False, True)
    assert (options.engine, options.hybrid_confidence, options.onnx_threads, options.onnx_provider,
            options.ppocr_batch_size, options.ppocr_detect_side) == ("hybrid", 85, 2, "cpu", 4, 1024)
    assert options.as_event_options()["clean"] == "False"
    assert OcrOptions.from_settings(Settings(home=tmp_path)).engine == OcrOptions().engine == "ppocr"


def test_unknown_setting_value_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="ocr_onnx_provider"):
        load_settings(home=tmp_path, ocr_onnx_provider="tpu")


def test_onnx_threads_and_batch_follow_cores_and_provider() -> None:
    assert [default_threads(jobs, cores=16) for jobs in (16, 8, 4, 1)] == [1, 2, 4, 16]
    assert default_threads(2, cores=2) == 1 and default_threads(4, cores=2) == 1
    assert default_batch_size(CPU, 1) == 1 and default_batch_size(CPU, 4) > 1 and default_batch_size(CUDA, 1) > 8
    assert choose_provider("cpu") == CPU
    tuning = ppocr_tuning(OcrOptions(jobs=1, onnx_provider="cpu"))
    assert (tuning.provider, tuning.threads) == (CPU, os.cpu_count() or 1)


def test_clean_whitens_paper_grain_and_keeps_ink() -> None:
    page = Image.new("L", (200, 100), 230)
    page.putpixel((10, 10), 205)  # grain within the margin of the paper level
    page.putpixel((20, 20), 120)  # anti-aliased ink edge
    page.putpixel((30, 30), 15)  # ink
    clean = _images.whiten_paper(page)
    assert [clean.getpixel(xy) for xy in ((10, 10), (20, 20), (30, 30), (50, 50))] == [255, 120, 15, 255]


def test_hocr_confidence_and_sideways_lines() -> None:
    hocr = (b"<span class='ocr_line' title=\"bbox 10 10 20 200\"><span class='ocrx_word' title='bbox 1 1 2 2;"
            b" x_wconf 80'>a</span><span class='ocrx_word' title='bbox 1 1 2 2; x_wconf 60'>b</span></span>")
    assert mean_word_confidence(hocr) == (70.0, 2)
    assert is_sideways(hocr)
    assert not is_sideways(hocr.replace(b"bbox 10 10 20 200", b"bbox 10 10 400 40"))


def test_tesseract_version_probe() -> None:
    assert tesseract.version()[0].isdigit()


@pytest.mark.parametrize("tilt", [-1.5, 0.75])
def test_straightening_undoes_a_measured_skew(tilt: float) -> None:
    """Rows of 'text' turned by ``tilt`` degrees: the skew is measured, and the straightened
    copy (same size, paper-white corners) measures as level."""
    level = Image.open(BytesIO(batch_page_jpeg())).convert("L")
    tilted = level.rotate(-tilt, resample=Image.Resampling.BICUBIC, fillcolor=255)
    skew = _images.detect_skew(tilted)
    assert abs(skew - tilt) <= 2 * _images.SKEW_STEP_DEG
    straight = _images.straighten(tilted, skew)
    assert straight.size == tilted.size and straight.mode == "L"
    assert abs(_images.detect_skew(straight)) < _images.SKEW_MIN_DEG
    assert straight.getpixel((0, 0)) == 255
