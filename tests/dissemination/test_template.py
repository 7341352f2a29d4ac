"""dissemination/template.py: a sealed copy is its document's template plus one update, and the
template alone shows nothing a reader could take for an unmarked copy."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pikepdf
import pytest
from PIL import Image
from pyhanko.pdf_utils.reader import PdfFileReader
from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfgen.canvas import Canvas

from dissemination import trace
from dissemination.dip import DipDocument, issue_copy
from dissemination.seal import Sealer, validate_sealed
from dissemination.template import TEMPLATE_KEY, prune, template_path
from dissemination.watermark import TRACE_PREFIX, XOBJECT_NAME, WatermarkSpec, mask_id

UPDATE_LIMIT = 256 * 1024  # the reader's update: stamp fonts, seal, a few objects -- never the pages


@pytest.fixture(scope="module")
def sealer(dev_keys) -> Sealer:
    key, cert = dev_keys
    return Sealer(key_path=key, cert_path=cert, reason="电子阅卷", location="广州")


@pytest.fixture(scope="module")
def issued(corpus_documents: list[DipDocument], spec: WatermarkSpec, sealer: Sealer,
           tmp_path_factory) -> tuple[Path, Path, Path]:
    work = tmp_path_factory.mktemp("template")
    src = max((d.source_pdf for d in corpus_documents if d.volume == "正卷"), key=lambda p: p.stat().st_size)
    copy = issue_copy(src, work / "copy.pdf", spec, sealer, work / "templates")
    (template,) = (work / "templates").iterdir()
    return src, template, copy


def _text(pdf: Path, page: int | None = None) -> str:
    pages = ["-f", str(page), "-l", str(page)] if page else []
    return subprocess.run(["pdftotext", *pages, str(pdf), "-"], check=True, capture_output=True, text=True).stdout


def _darkest(pdf: Path, page: int, out: Path) -> int:
    subprocess.run(["pdftoppm", "-r", "40", "-f", str(page), "-l", str(page), "-gray", "-png", str(pdf), str(out)],
                   check=True)
    (png,) = out.parent.glob(out.name + "*.png")
    darkest = Image.open(png).convert("L").getextrema()[0]
    png.unlink()
    return darkest


def test_copy_is_the_template_plus_one_small_sealed_update(issued, dev_keys) -> None:
    _, template, copy = issued
    base, whole = template.read_bytes(), copy.read_bytes()
    assert whole.startswith(base)
    assert 0 < len(whole) - len(base) < UPDATE_LIMIT
    status = validate_sealed(copy, dev_keys[1])
    assert status.valid, status.detail
    with copy.open("rb") as handle:
        assert PdfFileReader(handle, strict=True).xrefs.total_revisions == 2
    for pdf in (template, copy):
        check = subprocess.run(["qpdf", "--check", str(pdf)], capture_output=True, text=True)
        assert check.returncode == 0 and "WARNING" not in check.stdout + check.stderr, check.stdout + check.stderr


def test_template_alone_shows_blank_pages_and_no_reader(issued, spec: WatermarkSpec, tmp_path: Path) -> None:
    src, template, copy = issued
    with pikepdf.open(src) as pdf:
        pages = len(pdf.pages)
    for page in (1, pages):
        assert _darkest(src, page, tmp_path / "src") < 128, "the scan itself should have dark pixels"
        assert _darkest(copy, page, tmp_path / "copy") < 128
        assert _darkest(template, page, tmp_path / "template") == 255, f"page {page} of the template is not blank"
    text = _text(template)
    assert spec.reader_name not in text and spec.request_id not in text
    with pikepdf.open(template) as doc:
        assert TEMPLATE_KEY in doc.Root


def test_every_page_of_the_copy_is_marked_and_traceable(issued, spec: WatermarkSpec, tmp_path: Path) -> None:
    _, _, copy = issued
    with pikepdf.open(copy) as doc:
        pages = len(doc.pages)
        assert TEMPLATE_KEY not in doc.Root
        assert doc.open_metadata()["dc:identifier"] == TRACE_PREFIX + spec.trace_id
        width = float(doc.pages[-1].trimbox[2])
    for page in range(1, pages + 1):
        text = _text(copy, page)
        assert spec.reader_name in text and spec.request_id in text, f"page {page}"
    subprocess.run(["pdftoppm", "-r", "150", "-f", str(pages), "-l", str(pages), "-gray", "-png", str(copy),
                    str(tmp_path / "p")], check=True)
    assert trace.decode_pattern(Image.open(next(tmp_path.glob("p*.png"))), width) == spec.trace_id


def test_readers_share_the_template_not_their_marks(issued, spec: WatermarkSpec, sealer: Sealer, dev_keys,
                                                    tmp_path: Path) -> None:
    src, template, first = issued
    other = spec.model_copy(update={"reader_name": "林志强", "reader_id_masked": mask_id("44010319850101123X"),
                                    "request_id": "REQ-20240501-0002", "trace_id": "0123456789abcdef"})
    second = issue_copy(src, tmp_path / "second.pdf", other, sealer, template.parent)
    assert list(template.parent.iterdir()) == [template]
    assert second.read_bytes().startswith(template.read_bytes())
    assert validate_sealed(second, dev_keys[1]).valid
    text = _text(second)
    assert other.reader_name in text and other.request_id in text
    assert spec.reader_name not in text and spec.request_id not in text
    assert first.read_bytes() != second.read_bytes()


def test_mixed_orientations_sharing_resources_each_get_their_stamp(spec: WatermarkSpec, sealer: Sealer, dev_keys,
                                                                   tmp_path: Path) -> None:
    source = tmp_path / "mixed.pdf"
    canvas = Canvas(str(source), pagesize=A4)
    for size in (A4, landscape(A4), A4):
        canvas.setPageSize(size)
        canvas.drawString(72, 72, "page body")
        canvas.showPage()
    canvas.save()
    with pikepdf.open(source, allow_overwriting_input=True) as pdf:
        shared = pdf.make_indirect(pikepdf.Dictionary(pdf.pages[0].obj.Resources))
        for page in pdf.pages:
            page.obj.Resources = shared
        pdf.save(source)
    copy = issue_copy(source, tmp_path / "copy.pdf", spec, sealer, tmp_path / "templates")
    assert validate_sealed(copy, dev_keys[1]).valid
    with pikepdf.open(copy) as doc:
        for page in doc.pages:
            x0, y0, x1, y1 = (float(v) for v in page.mediabox)
            stamp = page.obj.Resources.XObject[XOBJECT_NAME]
            bbox = [float(v) for v in stamp.BBox]
            assert (bbox[2] > bbox[3]) == (x1 - x0 > y1 - y0), "stamp orientation differs from the page's"
            assert "/Font" in stamp.Resources
    for page in (1, 2, 3):
        assert spec.request_id in _text(copy, page)


def test_template_follows_the_source_file_and_unused_ones_are_pruned(corpus_documents: list[DipDocument],
                                                                     tmp_path: Path) -> None:
    source = tmp_path / "doc.pdf"
    source.write_bytes(corpus_documents[0].source_pdf.read_bytes())
    first = template_path(source, tmp_path / "t")
    assert template_path(source, tmp_path / "t") == first
    before = source.stat()
    source.write_bytes(source.read_bytes())  # rewritten in place: same path, size and bytes
    # a rewrite gets a later mtime; set it rather than sleep and hope the clock ticked
    os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    assert template_path(source, tmp_path / "t") != first
    root = tmp_path / "t"
    root.mkdir()
    old, fresh = root / "old.pdf", root / "fresh.pdf"
    old.write_bytes(b"%PDF-1.7\n")
    fresh.write_bytes(b"%PDF-1.7\n")
    month_ago = time.time() - 30 * 86400
    os.utime(old, (month_ago, month_ago))
    assert prune(root) == [old]
    assert list(root.iterdir()) == [fresh]
