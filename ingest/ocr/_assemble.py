"""One document's PDF/A-2b: the scan's own page images with an invisible text layer underneath.

The text layer (``_text_layer``) is drawn from each page's hOCR as a form XObject under the
page's image (no second render of the image), in a glyphless font: the layer is invisible
(render mode 3), so glyph shapes buy nothing, while subsetting the system's Noto CJK font for
every document cost as much CPU as Tesseract itself (3-page document: 2.35 s against 0.63 s;
same extracted text). Pages read after turning get ``/Rotate`` instead of a re-encoded image;
straightening is undone by the text layer's matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import img2pdf
import pikepdf
from pikepdf import Array, Dictionary, Matrix, Name

from ingest.ocr import _images
from ingest.ocr._page import PageOutcome
from ingest.ocr._text_layer import GlyphlessFont, draw_page

PDFA_FLAVOUR = "2b"


def assemble_pdfa(source: Path, pages: Sequence[PageOutcome], out_dir: Path, title: str) -> Path:
    """Write ``out_dir/document.pdfa.pdf`` and return it; raises PdfaError if it does not validate."""
    base_path = source if not _images.is_tiff(source) else _tiff_to_pdf(source, out_dir / "tiff_base.pdf")
    out = out_dir / "document.pdfa.pdf"
    with pikepdf.open(base_path) as pdf:
        _add_text_layer(pdf, pages)
        _turn_pages(pdf, pages)
        _set_metadata(pdf, title)
        pikepdf.pdfa.save(pdf, out, PDFA_FLAVOUR, output_intent="sRGB", deterministic_id=True)
    return out


def make_pdfa_without_ocr(source: Path, out: Path, title: str) -> Path:
    """A PDF/A copy of a born-digital PDF (metadata and structure only); PdfaError if not feasible."""
    with pikepdf.open(source) as pdf:
        _set_metadata(pdf, title)
        pikepdf.pdfa.save(pdf, out, PDFA_FLAVOUR, output_intent="sRGB", deterministic_id=True)
    return out


def _tiff_to_pdf(source: Path, out: Path) -> Path:
    """Wrap the TIFF's frames in a PDF (img2pdf: lossless, no re-encoding where possible)."""
    out.write_bytes(img2pdf.convert(str(source), rotation=img2pdf.Rotation.ifvalid))
    return out


def _add_text_layer(pdf: pikepdf.Pdf, pages: Sequence[PageOutcome]) -> None:
    """Each recognised page's words as a form XObject drawn under the scan, mapped from the
    engine's (upright, straightened) image to the page; one font for the whole document."""
    font = GlyphlessFont()
    drawn = [(outcome, *draw_page(outcome.hocr, outcome.dpi, font)) for outcome in pages if outcome.hocr is not None]
    if not drawn:
        return
    font_ref = font.make(pdf)
    for outcome, operators, (width, height) in drawn:
        form = pdf.make_stream(operators, Type=Name.XObject, Subtype=Name.Form, BBox=Array([0, 0, width, height]),
                               Resources=Dictionary(Font=Dictionary(F1=font_ref)))
        page = pdf.pages[outcome.page - 1]
        name = page.add_resource(form, Name.XObject, prefix="OCR")
        matrix = _text_matrix((0, 0, width, height), page.mediabox, outcome.rotation, outcome.skew)
        draw = b"q " + " ".join(f"{v:.6f}" for v in matrix.shorthand).encode() + b" cm " + bytes(name) + b" Do Q\n"
        page.contents_add(pdf.make_stream(draw), prepend=True)


def _text_matrix(text_box, page_box, rotation: int, skew: float) -> Matrix:
    """Text space (upright, straightened image) -> the scan page's unrotated user space."""
    wt, ht = float(text_box[2]), float(text_box[3])
    width, height = float(page_box[2]) - float(page_box[0]), float(page_box[3]) - float(page_box[1])
    undo_skew = Matrix().translated(-wt / 2, -ht / 2).rotated(-skew).translated(wt / 2, ht / 2)
    upright_w, upright_h = (width, height) if rotation % 180 == 0 else (height, width)
    scale = Matrix().scaled(upright_w / wt, upright_h / ht)
    turn = {
        0: Matrix(),
        90: Matrix(0, 1, -1, 0, width, 0),
        180: Matrix(-1, 0, 0, -1, width, height),
        270: Matrix(0, -1, 1, 0, 0, height),
    }[rotation % 360]
    origin = Matrix().translated(float(page_box[0]), float(page_box[1]))
    return undo_skew @ scale @ turn @ origin


def _turn_pages(pdf: pikepdf.Pdf, pages: Sequence[PageOutcome]) -> None:
    for outcome in pages:
        if outcome.rotation:
            page = pdf.pages[outcome.page - 1]
            page.Rotate = (int(page.obj.get("/Rotate", 0)) + outcome.rotation) % 360


def _set_metadata(pdf: pikepdf.Pdf, title: str) -> None:
    with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
        meta["dc:title"] = title
        meta["xmp:CreatorTool"] = "Juanzong OCR"


