"""Formats, PDF safety, pixel limits, pages and unsafe paths on hand-made batches."""

from __future__ import annotations

import io
import os
from pathlib import Path

import img2pdf
import pikepdf
import pytest
from PIL import Image

from ingest.manifest import FileEntry
from ingest.validate import _Limits, check_batch, examine_file
from ingest.validate.files import BatchListing
from tests.ingest.conftest import batch_manifest, batch_page_jpeg, batch_page_pdf

PDF = "a/01-起诉状.pdf"


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return batch_page_pdf()


def _problems(checked, path=PDF) -> list[tuple[str, bool]]:
    return [(p.code, p.fatal) for p in checked.report.for_path(path)]


def _rewrite(data: bytes, change) -> bytes:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        change(pdf)
        out = io.BytesIO()
        pdf.save(out)
    return out.getvalue()


def _javascript(pdf: pikepdf.Pdf) -> None:
    pdf.Root.OpenAction = pdf.make_indirect(pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS="app.alert(1)"))


def _embedded_file(pdf: pikepdf.Pdf) -> None:
    pdf.attachments["payload.exe"] = pikepdf.AttachedFileSpec(pdf, b"MZ...")


def _launch(pdf: pikepdf.Pdf) -> None:
    action = pikepdf.Dictionary(S=pikepdf.Name.Launch, F="cmd.exe")
    annot = pikepdf.Dictionary(Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Link,
                               Rect=[0, 0, 100, 100], A=action)
    pdf.pages[0].Annots = pdf.make_indirect(pikepdf.Array([pdf.make_indirect(annot)]))


@pytest.mark.parametrize(("change", "found"), [(_javascript, "JavaScript"),
                                                (_embedded_file, "embedded files"),
                                                (_launch, "launch action")])
def test_active_content_is_refused(faulty_batch, pdf, change, found: str):
    data = _rewrite(pdf, change)
    checked = check_batch(faulty_batch({PDF: data}))
    (problem,) = [p for p in checked.report.for_path(PDF) if p.code == "E203"]
    assert problem.fatal and found in problem.found
    assert checked.accepted == ()


def test_encrypted_pdf_is_refused(faulty_batch, pdf):
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        out = io.BytesIO()
        doc.save(out, encryption=pikepdf.Encryption(owner="o", user="u"))
    checked = check_batch(faulty_batch({PDF: out.getvalue()}))
    assert _problems(checked) == [("E202", True)]


def test_pdf_without_end_marker_is_damaged(faulty_batch, pdf):
    checked = check_batch(faulty_batch({PDF: pdf[: len(pdf) * 9 // 10]}))
    assert ("E201", True) in _problems(checked)


def test_not_a_pdf_at_all_is_a_format_mismatch(faulty_batch):
    checked = check_batch(faulty_batch({PDF: b"hello, this is text\n"}))
    assert _problems(checked) == [("E200", True)]
    assert checked.report.for_path(PDF)[0].found == "unknown content"


def test_extension_disagreeing_with_content_is_caught(faulty_batch, pdf):
    path = "a/01-起诉状.tif"

    def edit(m: dict) -> None:
        m["files"][0]["media_type"] = "application/pdf"

    checked = check_batch(faulty_batch({path: pdf}, edit=edit))
    (problem,) = checked.report.for_path(path)
    assert (problem.code, problem.expected, problem.found) == ("E200", "image/tiff", "application/pdf")


def test_pdf_image_above_pixel_limit_is_not_decoded(faulty_batch, pdf):
    checked = check_batch(faulty_batch({PDF: pdf}), max_pixels=1_000_000)
    assert _problems(checked) == [("E204", True)]


def test_decompression_bomb_image_is_refused(faulty_batch):
    out = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(out, "PNG")
    path = "a/bomb.png"
    checked = check_batch(faulty_batch({path: out.getvalue()}))
    assert _problems(checked, path) == [("E204", True)]


def test_multipage_tiff_is_checked_page_by_page(faulty_batch):
    pages = [Image.open(io.BytesIO(batch_page_jpeg(dpi=150))) for _ in range(2)]
    pages.append(Image.open(io.BytesIO(batch_page_jpeg(dpi=150, text=False))))
    out = io.BytesIO()
    pages[0].save(out, "TIFF", save_all=True, append_images=pages[1:], compression="jpeg", dpi=(150, 150))
    path = "a/01-起诉状.tif"
    manifest = batch_manifest({path: out.getvalue()}, p1=3)
    checked = check_batch(faulty_batch({path: out.getvalue()}, manifest=manifest))
    assert [(p.code, p.message.split(" page ")[-1][:1]) for p in checked.report.for_path(path)] == [
        ("E211", "1"), ("E211", "2"), ("E211", "3"), ("E212", "3")]


def test_blank_and_low_resolution_pages_in_a_pdf(faulty_batch):
    data = img2pdf.convert([batch_page_jpeg(dpi=150), batch_page_jpeg(dpi=200, text=False)])
    manifest = batch_manifest({PDF: data}, p1=2)
    checked = check_batch(faulty_batch({PDF: data}, manifest=manifest))
    assert _problems(checked) == [("E211", True), ("E212", False)]
    assert "page 1:" in checked.report.for_path(PDF)[0].message
    assert "page 2:" in checked.report.for_path(PDF)[1].message


@pytest.mark.parametrize("path", ["../outside.pdf", "/etc/passwd", "a/./b.pdf", "a\\b.pdf"])
def test_unsafe_listed_paths_are_refused(faulty_batch, pdf, path: str):
    def edit(m: dict) -> None:
        m["files"][0]["path"] = path

    checked = check_batch(faulty_batch({PDF: pdf}, edit=edit))
    assert _problems(checked, path) == [("E117", True)]
    assert checked.accepted == ()


def test_symlinks_are_refused_not_followed(faulty_batch, pdf, tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.pdf").write_bytes(pdf)
    files = {PDF: pdf, "b/link.pdf": pdf, "c/x.pdf": pdf}
    batch = faulty_batch(files, manifest=batch_manifest(files))
    for rel in ("b/link.pdf", "c/x.pdf"):
        (batch / rel).unlink()
    (batch / "b/link.pdf").symlink_to(outside / "secret.pdf")
    (batch / "c").rmdir()
    (batch / "c").symlink_to(outside)
    (batch / "stray.pdf").symlink_to(outside / "secret.pdf")
    checked = check_batch(batch)
    assert _problems(checked, "b/link.pdf") == [("E117", True)]
    assert _problems(checked, "c/x.pdf") == [("E117", True)]
    assert _problems(checked, "stray.pdf") == [("E117", True)]
    assert checked.accepted == (PDF,)


def test_fifo_in_the_batch_is_refused_without_blocking(faulty_batch, pdf):
    batch = faulty_batch({PDF: pdf})
    os.mkfifo(batch / "pipe.pdf")
    checked = check_batch(batch)
    assert _problems(checked, "pipe.pdf") == [("E117", True)]



@pytest.mark.parametrize(("make", "code"), [(lambda p: None, "E110"), (lambda p: p.mkdir(), "E119"),
                                            (lambda p: p.symlink_to("/etc/hostname"), "E117")])
def test_file_changed_after_listing_is_reported_not_raised(tmp_path: Path, pdf, make, code: str):
    """Between listing and reading, a file can vanish, become a folder or a link."""
    entry = FileEntry.model_validate(batch_manifest({PDF: pdf})["files"][0])
    make(tmp_path / "x.pdf")
    entry = entry.model_copy(update={"path": "x.pdf"})
    listing = BatchListing(regular=frozenset({"x.pdf"}), unsafe=frozenset())
    examined = examine_file(tmp_path, entry, listing, _Limits(200, 200_000_000))
    assert [(p.code, p.path) for p in examined.problems] == [(code, "x.pdf")]
