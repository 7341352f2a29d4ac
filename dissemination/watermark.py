"""The visible, traceable watermark of a dissemination copy.

Method. The stamp is built once per copy with reportlab as a one-page PDF and laid over
every page as one shared Form XObject, fitted to each page's box; a 100-page copy therefore
carries the stamp's bytes once. An unsealed copy (``watermark_pdf``) is written by qpdf with the
stamp in place; a sealed one puts the same stamp into the document's copy template
(``dissemination.template``), in the update its seal covers. Inside the stamp the
text block is itself one form drawn at every tile position, so reportlab lays out and
encodes the text once per copy, not once per tile. The stamp holds:

- visible: diagonal (30°) tiled blocks of real text in embedded subsets of Droid Sans
  Fallback (CJK) and DejaVu Sans (Latin and digits, which the former lacks), both TrueType
  with ToUnicode, so ``pdftotext`` extracts them (rotated text comes out a few characters
  per line, hence the invisible run below), grey at 25 % opacity
  (ExtGState ``ca``) so the page under it stays readable. Each block carries the reader's
  name, masked ID or licence number, case number, request id, issue time, the notice and
  the trace id;
- invisible: one horizontal text run in render mode 3 (neither filled nor stroked) with the
  trace id, request id and reader name, so text extraction finds them on every page even
  when an extractor splits rotated text;
- faint: the dot pattern of ``dissemination.trace`` in the margins, which a rescan of a
  printout can be decoded from (see that module for its limits).

The trace id is also written to the XMP metadata as ``dc:identifier`` (a standard
property, so no PDF/A extension schema is needed) in the form ``juanzong-trace:<id>``.

Unsealed output is deterministic for the same source and spec: reportlab runs in invariant
mode, pikepdf writes a deterministic /ID and the XMP dates are the issue time.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable
from datetime import datetime
from functools import cache, lru_cache
from pathlib import Path

import pikepdf
from lxml import etree
from pydantic import BaseModel, ConfigDict
from reportlab.lib.colors import Color
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from dissemination import trace

FONT_FILE = Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf")
LATIN_FONT_FILE = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
FONT_NAME = "JuanzongWatermark"
LATIN_FONT_NAME = "JuanzongWatermarkLatin"
NOTICE = "仅供本案阅卷使用，不得外传"
XOBJECT_NAME = "/JzWatermark"
OPEN_GATE = b"q\n"
TRACE_PREFIX = "juanzong-trace:"
XMP_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XMP_DC = "http://purl.org/dc/elements/1.1/"
XMP_XMP = "http://ns.adobe.com/xap/1.0/"
XPACKET_BEGIN = b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
XPACKET_END = b'\n<?xpacket end="w"?>'
EMPTY_XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="%s"/></x:xmpmeta>'
             % XMP_RDF.encode())
A4 = (595.0, 842.0)
ANGLE = 30.0
OPACITY = 0.25
FONT_SIZE = 11.0
STAMP_COMPRESSION = 0  # qpdf compresses the stamp when it writes the copy, faster than reportlab
TILE = (250.0, 150.0)  # horizontal and vertical step between blocks, in rotated space
BLOCK_FORM = "block"
BLOCK_BOX = (-10.0, -60.0, 420.0, 20.0)  # the block's four lines start at (0, 0) and run down


class WatermarkSpec(BaseModel):
    """What the watermark says about one copy: who, which case, which request, when."""

    model_config = ConfigDict(frozen=True)

    reader_name: str
    reader_id_masked: str
    case_number: str
    request_id: str
    issued_at: datetime
    notice: str = NOTICE
    trace_id: str


def mask_id(id_number: str) -> str:
    """Hide the middle of an ID or licence number: enough to recognise, not to reuse."""
    n = len(id_number)
    head, tail = (6, 4) if n >= 12 else (1, 2) if n >= 5 else (0, 0)
    return id_number[:head] + "*" * (n - head - tail) + id_number[n - tail:]


def stamp_lines(spec: WatermarkSpec) -> tuple[str, ...]:
    """The visible block, line by line."""
    return (
        f"{spec.reader_name} {spec.reader_id_masked}",
        spec.case_number,
        f"{spec.request_id} {spec.issued_at:%Y-%m-%d %H:%M}",
        f"{spec.notice} {spec.trace_id}",
    )


@cache
def _cjk_glyphs() -> frozenset[int]:
    """Register both fonts once; return the code points the CJK font can draw."""
    for name, path in ((FONT_NAME, FONT_FILE), (LATIN_FONT_NAME, LATIN_FONT_FILE)):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: watermark font missing (fonts-droid-fallback, fonts-dejavu-core)")
        pdfmetrics.registerFont(TTFont(name, str(path)))
    return frozenset(pdfmetrics.getFont(FONT_NAME).face.charToGlyph)


def register_fonts() -> None:
    """Make the watermark fonts known to reportlab (idempotent)."""
    _cjk_glyphs()


def font_runs(line: str) -> list[tuple[str, str]]:
    """Split ``line`` into (font name, text) runs: Droid Sans Fallback has no Latin letters or digits."""
    cjk = _cjk_glyphs()
    runs: list[tuple[str, str]] = []
    for char in line:
        font = FONT_NAME if ord(char) in cjk else LATIN_FONT_NAME
        if runs and runs[-1][0] == font:
            runs[-1] = (font, runs[-1][1] + char)
        else:
            runs.append((font, char))
    return runs


def _text_lines(text: object, lines: tuple[str, ...], size: float) -> None:
    for line in lines:
        for font, run in font_runs(line):
            text.setFont(font, size, leading=size * 1.3)
            text.textOut(run)
        text.textLine("")


def _tile_origins(size: tuple[float, float]) -> list[tuple[float, float]]:
    """Lower-left corners of the text blocks, in the rotated space centred on the page."""
    reach = math.hypot(*size) / 2
    step_x, step_y = TILE
    return [(ix * step_x + (iy % 2) * step_x / 2 - step_x / 2, iy * step_y)
            for iy in range(-int(reach // step_y) - 1, int(reach // step_y) + 2)
            for ix in range(-int(reach // step_x) - 1, int(reach // step_x) + 2)]


def _draw_tiles(canvas: Canvas, spec: WatermarkSpec, size: tuple[float, float]) -> None:
    """The block once as a form, then drawn at every tile (literal ``cm``: reportlab's
    saveState/translate per tile cost more than the text itself)."""
    width, height = size
    canvas.beginForm(BLOCK_FORM, *BLOCK_BOX)
    text = canvas.beginText(0, 0)
    _text_lines(text, stamp_lines(spec), FONT_SIZE)
    canvas.drawText(text)
    canvas.endForm()
    canvas.saveState()
    canvas.setFillColor(Color(0.3, 0.3, 0.3, alpha=OPACITY))
    canvas.translate(width / 2, height / 2)
    canvas.rotate(ANGLE)
    for x, y in _tile_origins(size):
        canvas.addLiteral(f"q 1 0 0 1 {x:g} {y:g} cm")
        canvas.doForm(BLOCK_FORM)
        canvas.addLiteral("Q")
    canvas.restoreState()


def _draw_hidden(canvas: Canvas, spec: WatermarkSpec) -> None:
    text = canvas.beginText(20, 40)
    text.setTextRenderMode(3)
    _text_lines(text, (f"{TRACE_PREFIX}{spec.trace_id} {spec.request_id} {spec.reader_name}",), 4)
    canvas.drawText(text)
    for origin in trace.PATTERN_ORIGINS:
        canvas.setFillGray(1.0)
        canvas.rect(*origin, trace.COLS * trace.CELL, (trace.ROWS + 2) * trace.CELL, stroke=0, fill=1)
        canvas.setFillGray(trace.GREY)
        dots = [f"{x:.2f} {y:.2f} {trace.DOT:g} {trace.DOT:g} re"
                for x, y, dark in trace.pattern_cells(spec.trace_id, origin) if dark]
        canvas.addLiteral(" ".join(dots) + " f")


@lru_cache(maxsize=8)
def stamp_bytes(spec: WatermarkSpec, size: tuple[float, float] = A4) -> bytes:
    """The one-page stamp PDF of ``size`` points; same spec, same bytes (cached: a DIP reuses it)."""
    _cjk_glyphs()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=size, invariant=1, pageCompression=STAMP_COMPRESSION,
                    initialFontName=LATIN_FONT_NAME)
    _draw_tiles(canvas, spec, size)
    _draw_hidden(canvas, spec)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def stamp_size(page: pikepdf.Page) -> tuple[float, float]:
    box = page.trimbox
    landscape = (float(box[2]) - float(box[0])) > (float(box[3]) - float(box[1]))
    return (A4[1], A4[0]) if landscape else A4


def xmp_packet(current: bytes | None, spec: WatermarkSpec) -> bytes:
    """``current`` XMP with the trace id and the XMP dates set, every other property (PDF/A
    identification included) kept. Edited with lxml directly: pikepdf's metadata editor costs
    about 4 ms a copy, a tenth of writing a 100-page copy."""
    stamp = spec.issued_at.isoformat()
    values = {f"{{{XMP_DC}}}identifier": TRACE_PREFIX + spec.trace_id,
              f"{{{XMP_XMP}}}MetadataDate": stamp, f"{{{XMP_XMP}}}ModifyDate": stamp}
    root = etree.fromstring(current or EMPTY_XMP,
                            etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True))
    rdf = root if root.tag == f"{{{XMP_RDF}}}RDF" else root.find(f".//{{{XMP_RDF}}}RDF")
    if rdf is None:
        raise ValueError("XMP metadata without rdf:RDF")
    for description in rdf.iter(f"{{{XMP_RDF}}}Description"):
        for name in values:
            description.attrib.pop(name, None)
            for element in description.findall(name):
                description.remove(element)
    ours = etree.SubElement(rdf, f"{{{XMP_RDF}}}Description", {f"{{{XMP_RDF}}}about": ""},
                            nsmap={"dc": XMP_DC, "xmp": XMP_XMP})
    for name, value in values.items():
        etree.SubElement(ours, name).text = value
    return XPACKET_BEGIN + etree.tostring(root, encoding="utf-8") + XPACKET_END


def current_xmp(pdf: pikepdf.Pdf) -> bytes | None:
    return pdf.Root.Metadata.read_bytes() if "/Metadata" in pdf.Root else None


def _write_xmp(pdf: pikepdf.Pdf, spec: WatermarkSpec) -> None:
    pdf.Root.Metadata = pdf.make_stream(xmp_packet(current_xmp(pdf), spec),
                                        Type=pikepdf.Name.Metadata, Subtype=pikepdf.Name.XML)


def wrap_pages(pdf: pikepdf.Pdf, gate: bytes,
               form_for: Callable[[tuple[float, float]], pikepdf.Object]) -> tuple[pikepdf.Object, list[pikepdf.Object]]:
    """Wrap every page's content as ``[gate, content ..., place]``: ``gate`` (one stream for all
    pages) opens the graphics state, ``place`` (one per distinct placement) restores it and
    draws the form of the page's orientation as /JzWatermark, fitted to the trim box. The
    unsealed copy's gate is ``q``; a copy template's clips everything (``dissemination.template``).
    Returns the gate and the forms, one per orientation present."""
    gate_stream = pdf.make_stream(gate)
    forms: dict[tuple[float, float], pikepdf.Object] = {}
    places: dict[bytes, pikepdf.Object] = {}
    for page in pdf.pages:
        size = stamp_size(page)
        form = forms.get(size) or forms.setdefault(size, form_for(size))
        _own_resources(page, form)
        placement = page.calc_form_xobject_placement(form, pikepdf.Name(XOBJECT_NAME), pikepdf.Rectangle(page.trimbox))
        place = places.get(placement) or places.setdefault(placement, pdf.make_stream(b"Q\n" + placement))
        page.contents_add(gate_stream, prepend=True)
        page.contents_add(place)
    return gate_stream, list(forms.values())


def _own_resources(page: pikepdf.Page, form: pikepdf.Object) -> None:
    """Name ``form`` /JzWatermark in the page's own resources: pages may share a resource
    dictionary, and a portrait and a landscape page must not share the name."""
    resources = pikepdf.Dictionary(page.obj.get("/Resources", pikepdf.Dictionary()))
    xobjects = pikepdf.Dictionary(resources.get("/XObject", pikepdf.Dictionary()))
    xobjects[XOBJECT_NAME] = form
    resources.XObject = xobjects
    page.obj.Resources = resources


def stamp_form(pdf: pikepdf.Pdf, spec: WatermarkSpec, size: tuple[float, float]) -> pikepdf.Object:
    """The reader's stamp of ``size`` points as a Form XObject of ``pdf``."""
    with pikepdf.open(io.BytesIO(stamp_bytes(spec, size))) as stamp:
        return pdf.copy_foreign(stamp.pages[0].as_form_xobject())


def mark(pdf: pikepdf.Pdf, spec: WatermarkSpec) -> pikepdf.Pdf:
    """Stamp every page of an open PDF and put the trace id in its XMP."""
    wrap_pages(pdf, OPEN_GATE, lambda size: stamp_form(pdf, spec, size))
    _write_xmp(pdf, spec)
    return pdf


def watermark_pdf(src: Path, dest: Path, spec: WatermarkSpec) -> Path:
    """Write a watermarked, unsealed copy of ``src`` to ``dest`` (never ``src`` itself) with the
    trace id in XMP; same source and spec, same bytes (``deterministic_id``)."""
    if src.resolve() == dest.resolve():
        raise ValueError(f"{src}: refusing to watermark a file in place")
    tmp = dest.with_name(f".{dest.name}.tmp")
    with pikepdf.open(src) as pdf:
        mark(pdf, spec).save(tmp, deterministic_id=True)
    os.replace(tmp, dest)
    return dest
