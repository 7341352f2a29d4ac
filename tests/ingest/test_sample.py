"""The sample batch must pass for a station batch: manifest true to its files, image-only PDFs,
the same bytes for the same seed, and text that OCR can read."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pikepdf
import pytest

from ingest.manifest import read_manifest
from ingest.sample import CASE_NUMBER, SAMPLE_READER, write_sample_batch

TEXT_OPERATORS = {"BT", "ET", "Tj", "TJ", "'", '"', "Tf"}
GB11643_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample_batch(tmp_path_factory.mktemp("sample") / "out")


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _is_valid_id(number: str) -> bool:
    s = sum(int(c) * w for c, w in zip(number[:17], GB11643_WEIGHTS))
    return len(number) == 18 and number[:17].isdigit() and "10X98765432"[s % 11] == number[17]


def test_manifest_matches_files(batch: Path) -> None:
    manifest = read_manifest(batch)
    on_disk = {p.relative_to(batch).as_posix() for p in batch.rglob("*.pdf")}
    assert on_disk == {f.path for f in manifest.files}
    for entry in manifest.files:
        data = (batch / entry.path).read_bytes()
        assert (hashlib.sha256(data).hexdigest(), len(data)) == (entry.sha256, entry.byte_size), entry.path
        with pikepdf.open(batch / entry.path) as pdf:
            assert len(pdf.pages) == entry.page_count, entry.path
    assert manifest.page_total == sum(f.page_count for f in manifest.files)


def test_manifest_has_the_corpus_fields(batch: Path) -> None:
    raw = json.loads((batch / "manifest.json").read_text(encoding="utf-8"))
    assert list(raw) == ["manifest_version", "batch_id", "station_id", "operator", "archive", "scan_started",
                         "scan_finished", "scan_settings", "page_total", "cases", "files"]
    assert batch.name == raw["batch_id"]
    assert set(raw["files"][0]) == {"path", "sha256", "byte_size", "page_count", "media_type",
                                    "scanned_at", "case_number", "document"}
    assert set(raw["files"][0]["document"]) == {"seq", "doc_type", "title", "volume", "disclosable",
                                                "doc_date", "author"}
    for f in raw["files"]:
        case = f["case_number"]
        assert f["path"].startswith(f"{case[1:5]}-{case[6:-1]}/{f['document']['seq']:02d}-")


def test_cases_and_sample_reader(batch: Path) -> None:
    manifest = read_manifest(batch)
    civil, enforcement = manifest.cases
    assert (civil.case_number, civil.court_code, civil.case_type, civil.procedure, len(civil.panel)) == (
        CASE_NUMBER, "粤0106", "民事", "一审", 3)
    assert enforcement.case_type == "执行"
    reader = next(p for p in civil.parties if p.name == SAMPLE_READER["name"])
    assert reader.id_number == SAMPLE_READER["id_number"] and SAMPLE_READER["case_number"] == CASE_NUMBER
    assert all(_is_valid_id(p.id_number or "") for c in manifest.cases for p in c.parties)
    sealed = [f for f in manifest.files if f.document.volume == "副卷"]
    found = [(f.case_number, f.document.doc_type, f.document.disclosable) for f in sealed]
    assert found == [(CASE_NUMBER, "合议庭评议笔录", False)]


def test_pdfs_are_image_only_a4(batch: Path) -> None:
    for path in batch.rglob("*.pdf"):
        with pikepdf.open(path) as pdf:
            for page in pdf.pages:
                ops = {str(op) for _, op in pikepdf.parse_content_stream(page)}
                assert not ops & TEXT_OPERATORS, f"{path}: text operators {ops & TEXT_OPERATORS}"
                assert "/Font" not in page.Resources, path
                (image,) = page.get_images().values()
                assert (image.ColorSpace, image.Filter) == ("/DeviceGray", "/DCTDecode"), path
                width, height = (float(v) for v in page.MediaBox[2:])
                assert abs(width - 595.3) < 1 and abs(height - 841.9) < 1, path


def test_ground_truth_beside_the_batch(batch: Path) -> None:
    truth = batch.parent / "ground_truth"
    for entry in read_manifest(batch).files:
        pages = sorted((truth / entry.path[:-4]).glob("page_*.txt"))
        assert len(pages) == entry.page_count, entry.path
        assert entry.case_number in pages[0].read_text(encoding="utf-8"), entry.path
    assert not (batch / "ground_truth").exists()


def test_same_seed_same_bytes_other_seed_differs(batch: Path, tmp_path: Path) -> None:
    again = write_sample_batch(tmp_path / "again")
    assert _tree(again.parent) == _tree(batch.parent)
    other = write_sample_batch(tmp_path / "other", seed=2)
    assert _tree(other) != _tree(batch)


def test_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "stale.txt").write_text("x")
    with pytest.raises(FileExistsError, match="not empty"):
        write_sample_batch(tmp_path)


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed")
def test_ocr_reads_the_first_judgment_page(batch: Path, tmp_path: Path) -> None:
    rel = next(f.path for f in read_manifest(batch).files if f.document.doc_type == "判决书")
    with pikepdf.open(batch / rel) as pdf:
        jpeg = tmp_path / "page1.jpg"
        jpeg.write_bytes(pdf.pages[0].get_images()["/Im0"].read_raw_bytes())
    run = subprocess.run(["tesseract", str(jpeg), "-", "-l", "chi_sim"],
                         capture_output=True, text=True, timeout=900, check=True)
    ocr = re.sub(r"\s", "", run.stdout)
    truth_file = batch.parent / "ground_truth" / rel[:-4] / "page_0001.txt"
    truth = re.sub(r"\s", "", truth_file.read_text(encoding="utf-8"))
    assert "0106" in ocr and "1234" in ocr, ocr
    assert "判决书" in truth and "判决书" in ocr, ocr
    assert "原告" in truth and "原告" in ocr, ocr
