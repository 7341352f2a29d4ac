"""The invisible text layer drawn from hOCR (``_text_layer``): what a reader copies and searches."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pikepdf
import pytest

from ingest._exec import verapdf
from ingest.ocr._assemble import assemble_pdfa
from ingest.ocr._page import PageOutcome
from tests.ingest.conftest import batch_page_pdf

DPI = 200
# A 案号 split as Tesseract and the PP-OCR engine cut it (one word per CJK character, runs of
# digits and Latin together), a name with a character outside the BMP (U+20BB7 𠮷), and two
# Latin words with a gap between them.
LINES = [
    ["案", "号", "：", "（", "2023", "）", "粤", "01", "民", "终", "29463", "号"],
    ["当", "事", "人", "\U00020bb7", "某"],
    ["Juanzong", "OCR"],
]


def _hocr(path: Path) -> Path:
    """One page of hOCR: words 40 px wide and touching, except the Latin pair (a 60 px gap)."""
    lines = []
    for n, words in enumerate(LINES):
        top, x, spans = 300 + n * 100, 200, []
        for word in words:
            width = 40 * len(word) if word.isascii() else 40
            spans.append(f'<span class="ocrx_word" title="bbox {x} {top} {x + width} {top + 50}; x_wconf 95">'
                         f"{word}</span>")
            x += width + (60 if word == "Juanzong" else 0)
        lines.append(f'<span class="ocr_line" title="bbox 200 {top} {x} {top + 50}; baseline 0 -10">'
                     + "".join(spans) + "</span>")
    path.write_text('<?xml version="1.0" encoding="UTF-8"?><html xmlns="http://www.w3.org/1999/xhtml"><body>'
                    '<div class="ocr_page" title="bbox 0 0 1654 2339"><p class="ocr_par" title="bbox 200 300 900 600">'
                    + "".join(lines) + "</p></div></body></html>", encoding="utf-8")
    return path


@pytest.fixture
def layered(tmp_path: Path) -> Path:
    source = tmp_path / "scan.pdf"
    source.write_bytes(batch_page_pdf(pages=2, dpi=DPI))
    pages = [PageOutcome(doc=0, page=1, hocr=_hocr(tmp_path / "p1.hocr"), dpi=DPI),
             PageOutcome(doc=0, page=2, flags=("blank",), dpi=DPI)]
    return assemble_pdfa(source, pages, tmp_path, "民事起诉状")


def test_chinese_extracts_unbroken_and_latin_words_apart(layered: Path) -> None:
    text = subprocess.run(["pdftotext", "-raw", "-f", "1", "-l", "1", str(layered), "-"], capture_output=True,
                          check=True).stdout.decode()
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines == ["案号：（2023）粤01民终29463号", "当事人\U00020bb7某", "Juanzong OCR"]  # as read, not NFKC
    second = subprocess.run(["pdftotext", "-f", "2", "-l", "2", str(layered), "-"], capture_output=True,
                            check=True).stdout.decode()
    assert not second.strip()  # a page without hOCR gets no layer


def test_layer_is_invisible_and_never_shows_notdef(layered: Path) -> None:
    with pikepdf.open(layered) as pdf:
        page = pdf.pages[0]
        (form,) = [x for name, x in page.Resources.XObject.items() if name.startswith("/OCR")]
        assert b"3 Tr" in form.read_bytes()
        (font,) = form.Resources.Font.values()
        cid_font = font.DescendantFonts[0]
        gids = cid_font.CIDToGIDMap.read_bytes()
        shown = b"".join(bytes(op.operands[0]) for op in pikepdf.parse_content_stream(form)
                         if op.operator == pikepdf.Operator("Tj"))
        cids = {int.from_bytes(shown[i:i + 2], "big") for i in range(0, len(shown), 2)}
        assert cids and 0 not in cids
        assert all(int.from_bytes(gids[2 * c:2 * c + 2], "big") != 0 for c in cids)
        assert len(cid_font.W[1]) == len(cids) == max(cids)  # a width for every character shown
        to_unicode = font.ToUnicode.read_bytes()
        assert b"<FF1A>" in to_unicode and b"<D842DFB7>" in to_unicode  # full-width colon; 𠮷 as UTF-16


@pytest.mark.verapdf
def test_layered_document_is_valid_pdfa(layered: Path) -> None:
    (verdict,) = verapdf.validate([layered]).values()
    assert verdict.compliant, verdict.failed_rules
