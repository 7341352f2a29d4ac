"""dissemination/watermark.py and trace.py against real poppler tools."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pikepdf
import pytest
from PIL import Image

from dissemination import trace
from dissemination.dip import DipDocument
from dissemination.watermark import TRACE_PREFIX, WatermarkSpec, mask_id, watermark_pdf


def _page_texts(pdf: Path) -> list[str]:
    with pikepdf.open(pdf) as doc:
        count = len(doc.pages)
    return [subprocess.run(["pdftotext", "-f", str(n), "-l", str(n), str(pdf), "-"],
                           check=True, capture_output=True, text=True).stdout for n in range(1, count + 1)]


@pytest.fixture(scope="module")
def marked(corpus_documents: list[DipDocument], spec: WatermarkSpec, tmp_path_factory) -> tuple[Path, Path, str]:
    src = next(d.source_pdf for d in corpus_documents if d.title == "证据材料")
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    dest = watermark_pdf(src, tmp_path_factory.mktemp("wm") / "copy.pdf", spec)
    return src, dest, before


@pytest.mark.parametrize(("number", "masked"), [
    ("440103197912222756", "440103********2756"),
    ("14401201910123456", "144012*******3456"),
    ("A1234", "A**34"),
    ("123", "***"),
])
def test_mask_id(number: str, masked: str) -> None:
    assert mask_id(number) == masked


def test_every_page_names_reader_and_request(marked, spec: WatermarkSpec) -> None:
    src, dest, _ = marked
    texts = _page_texts(dest)
    assert len(texts) == len(_page_texts(src)) >= 2
    for number, text in enumerate(texts, 1):
        assert spec.reader_name in text, f"page {number}"
        assert spec.request_id in text, f"page {number}"


def test_source_untouched_and_refuses_in_place(marked, spec: WatermarkSpec) -> None:
    src, _, before = marked
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before
    with pytest.raises(ValueError):
        watermark_pdf(src, src, spec)


def test_stamp_is_one_shared_form_xobject_with_embedded_fonts(marked) -> None:
    _, dest, _ = marked
    with pikepdf.open(dest) as doc:
        forms = {page.obj.Resources.XObject["/JzWatermark"].objgen for page in doc.pages}
        assert len(forms) == 1
        form = doc.get_object(next(iter(forms)))
        fonts = form.Resources.Font
        assert len(fonts.keys()) >= 2  # CJK and Latin subsets
        for key in fonts.keys():
            assert fonts[key].Subtype == "/TrueType"
            assert "/FontFile2" in fonts[key].FontDescriptor  # embedded, not referenced
            assert "/ToUnicode" in fonts[key]


def test_xmp_carries_trace_id(marked, spec: WatermarkSpec) -> None:
    _, dest, _ = marked
    with pikepdf.open(dest) as doc:
        assert doc.open_metadata()["dc:identifier"] == TRACE_PREFIX + spec.trace_id


def test_dot_pattern_decodes_from_rendered_page(marked, spec: WatermarkSpec, tmp_path: Path) -> None:
    _, dest, _ = marked
    subprocess.run(["pdftoppm", "-r", "150", "-f", "2", "-l", "2", "-gray", "-png", str(dest), str(tmp_path / "p")],
                   check=True)
    image = Image.open(next(tmp_path.glob("p*.png")))
    with pikepdf.open(dest) as doc:
        width = float(doc.pages[1].trimbox[2])
    assert trace.decode_pattern(image, width) == spec.trace_id


def test_pattern_check_rejects_other_ids() -> None:
    bits = list(trace.pattern_bits("cecd312f94d85b7a"))
    bits[3] = not bits[3]
    value = sum(1 << (63 - i) for i, bit in enumerate(bits[:64]) if bit)
    assert trace.pattern_bits(f"{value:016x}") != tuple(bits)


def test_same_spec_same_bytes(marked, spec: WatermarkSpec, tmp_path: Path) -> None:
    src, dest, _ = marked
    again = watermark_pdf(src, tmp_path / "again.pdf", spec)
    assert again.read_bytes() == dest.read_bytes()
