"""Fixtures for the ingest tests. Validation fixtures are prefixed ``batch_`` / ``faulty_``."""

from __future__ import annotations

import copy
import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import img2pdf
import pytest
from PIL import Image, ImageDraw

from tests.conftest import make_corpus

BATCH_CASE = "（2023）粤0114民初6749号"


@pytest.fixture(scope="session")
def batch_faulty_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``make_corpus.py OUT --cases 3 --seed 5 --faults``: the folder holding faults.json."""
    out = tmp_path_factory.mktemp("validate-faults") / "out"
    make_corpus(out, "--cases", "3", "--seed", "5", "--faults")
    return out


@pytest.fixture(scope="session")
def batch_faults(batch_faulty_corpus: Path) -> list[dict[str, Any]]:
    return json.loads((batch_faulty_corpus / "faults.json").read_text(encoding="utf-8"))["faults"]


@pytest.fixture(scope="session")
def batch_clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean station batch: ``--cases 2 --seed 1``."""
    return make_corpus(tmp_path_factory.mktemp("validate-clean") / "out", "--cases", "2", "--seed", "1")


def batch_page_jpeg(dpi: int = 200, text: bool = True) -> bytes:
    """An A4 grey page at ``dpi`` as JPEG, with a block of dark 'text' unless blank."""
    width, height = round(8.27 * dpi), round(11.69 * dpi)
    page = Image.new("L", (width, height), 235)
    if text:
        draw = ImageDraw.Draw(page)
        for row in range(30):
            top = dpi + row * dpi // 5
            draw.rectangle((dpi, top, width - dpi, top + dpi // 12), fill=20)
    out = io.BytesIO()
    page.save(out, "JPEG", quality=70, dpi=(dpi, dpi))
    return out.getvalue()


def batch_page_pdf(pages: int = 1, dpi: int = 200) -> bytes:
    """An image-only PDF of ``pages`` A4 pages, as a scanner writes it."""
    return img2pdf.convert([batch_page_jpeg(dpi) for _ in range(pages)])


def batch_manifest(files: dict[str, bytes], **pages: int) -> dict[str, Any]:
    """A valid one-case manifest listing ``files`` (path -> bytes); page counts default to 1."""
    media = {".pdf": "application/pdf", ".tif": "image/tiff", ".jpg": "image/jpeg", ".png": "image/png"}
    entries = []
    for seq, (path, data) in enumerate(files.items(), 1):
        entries.append({
            "path": path, "sha256": hashlib.sha256(data).hexdigest(), "byte_size": len(data),
            "page_count": pages.get(f"p{seq}", 1), "media_type": media[Path(path).suffix],
            "scanned_at": "2024-03-01T09:00:00+08:00", "case_number": BATCH_CASE,
            "document": {"seq": seq, "doc_type": "起诉状", "title": "民事起诉状", "volume": "正卷",
                         "disclosable": True, "doc_date": "2023-05-01", "author": "张三"},
        })
    return {
        "manifest_version": "1.0", "batch_id": "GZ-TEST-20240301-001", "station_id": "GZ-TEST",
        "operator": {"id": "OP1", "name": "李四"}, "archive": "广东省广州市番禺区人民法院",
        "scan_started": "2024-03-01T09:00:00+08:00", "scan_finished": "2024-03-01T09:30:00+08:00",
        "scan_settings": {"dpi": 200, "format": "pdf", "color_mode": "gray", "compression": "jpeg",
                          "jpeg_quality": 70},
        "page_total": sum(e["page_count"] for e in entries),
        "cases": [{
            "case_number": BATCH_CASE, "court": "广东省广州市番禺区人民法院", "court_code": "粤0114",
            "case_type": "民事", "procedure": "一审", "cause_of_action": "买卖合同纠纷",
            "parties": [{"role": "原告", "kind": "person", "name": "张三"}],
            "judge": "王五", "panel": [], "clerk": "赵六", "filing_date": "2023-05-10",
            "closing_date": "2023-09-01", "retention_period": "永久", "retention_period_legacy": "永久",
            "security_class": "公开",
        }],
        "files": entries,
    }


@pytest.fixture
def faulty_batch(tmp_path: Path) -> Callable[..., Path]:
    """Write a small batch: ``files`` (path -> bytes) and a manifest (built, then ``edit``ed)."""

    def write(files: dict[str, bytes], edit: Callable[[dict], Any] | None = None,
              manifest: dict | str | None = None) -> Path:
        root = tmp_path / "batch"
        root.mkdir()
        for rel, data in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        body = copy.deepcopy(manifest) if manifest is not None else batch_manifest(files)
        if edit:
            edit(body)
        text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False, indent=1)
        (root / "manifest.json").write_text(text, encoding="utf-8")
        return root

    return write


# --- OCR fixtures (prefixed ``ocr_``) ---------------------------------------------------------


def _ocr_ground_truth(corpus: Path) -> dict[str, list[dict[str, Any]]]:
    return json.loads((corpus / "ground_truth" / "index.json").read_text(encoding="utf-8"))


def _ocr_extract_pages(source: Path, pages: list[int], out: Path) -> Path:
    """A new PDF holding some pages of a scan, page objects copied unchanged (no re-encoding)."""
    import pikepdf

    with pikepdf.open(source) as src, pikepdf.new() as dst:
        for number in pages:
            dst.pages.append(src.pages[number - 1])
        dst.save(out)
    return out


@pytest.fixture(scope="session")
def ocr_sample(batch_faulty_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A few pages out of the faulty corpus: the 90° and 180° rotated pages, four seal pages and
    six plain pages (about the corpus's share of seal pages; fewer pages make the CER figure jumpy), each with its ground truth: ``{"files": {name: path}, "truth": {name: [text]},
    "seal": {name: [bool]}}``."""
    corpus = batch_faulty_corpus
    batch = sorted(p for p in corpus.iterdir() if p.is_dir() and p.name != "ground_truth")[0]
    index = _ocr_ground_truth(corpus)
    faults = {f["type"]: f for f in json.loads((corpus / "faults.json").read_text(encoding="utf-8"))["faults"]}
    out = tmp_path_factory.mktemp("ocr-sample")
    picks: dict[str, list[tuple[str, int]]] = {
        "rotated_90": [(faults["rotated_90"]["path"], faults["rotated_90"]["page"])],
        "rotated_180": [(faults["rotated_180"]["path"], faults["rotated_180"]["page"])],
    }
    taken = {f["path"] for f in faults.values() if "path" in f}
    seals = [(path, p["page"]) for path, pages in index.items() if path not in taken
             for p in pages if p["seal"] and not p["blank"]][:4]
    plain = [(path, p["page"]) for path, pages in index.items() if path not in taken
             for p in pages if not p["seal"] and not p["blank"]][:6]
    picks["mixed"] = seals + plain
    files, truth, seal = {}, {}, {}
    for name, pages in picks.items():
        sources = {path for path, _ in pages}
        target = out / f"{name}.pdf"
        if len(sources) == 1:
            _ocr_extract_pages(batch / pages[0][0], [n for _, n in pages], target)
        else:
            _ocr_join_pages(batch, pages, target)
        files[name] = target
        records = {(path, p["page"]): p for path, ps in index.items() for p in ps}
        truth[name] = [(corpus / "ground_truth" / records[k]["text"]).read_text(encoding="utf-8") for k in pages]
        seal[name] = [records[k]["seal"] for k in pages]
    return {"files": files, "truth": truth, "seal": seal}


def _ocr_join_pages(batch: Path, pages: list[tuple[str, int]], out: Path) -> Path:
    from contextlib import ExitStack

    import pikepdf

    with ExitStack() as stack, pikepdf.new() as dst:
        for path, number in pages:
            src = stack.enter_context(pikepdf.open(batch / path))
            dst.pages.append(src.pages[number - 1])
        dst.save(out)
    return out


@pytest.fixture(scope="session")
def ocr_born_digital(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-page PDF with a real text layer (reportlab, standard font)."""
    from reportlab.pdfgen import canvas

    path = tmp_path_factory.mktemp("ocr-born-digital") / "judgment.pdf"
    pdf = canvas.Canvas(str(path))
    for number in (1, 2):
        pdf.drawString(72, 720, f"Civil judgment page {number}: the appeal is dismissed.")
        pdf.showPage()
    pdf.save()
    return path


@pytest.fixture(scope="session")
def ocr_corrupt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file that starts like a PDF and is garbage after: OCR must fail on it alone."""
    path = tmp_path_factory.mktemp("ocr-corrupt") / "broken.pdf"
    path.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 40)
    return path
