"""The invisible text layer: each page's hOCR words drawn in render mode 3, as one form XObject
per page, in a glyphless font shared by the document's pages.

Drawn directly into the document, as Tesseract's own PDF renderer does, instead of through
OCRmyPDF's fpdf2 renderer: that one parsed both its fonts with fontTools and subset them for
every document, about 0.4 s of CPU a document (40 pages in 16 documents: 6 CPU-s of 45) for
a layer nobody sees, and left reference cycles behind.

The font is OCRmyPDF's Occulta, embedded whole (13 kB): its glyphs are blank, 0, 500 or 1000
units wide. Each document numbers the characters it uses (CID 1, 2, ...); ``CIDToGIDMap``
gives each the blank of its width, never ``.notdef`` (PDF/A-2 6.2.11.8), ``W`` the same width
as the font program (6.2.11.5), and ``ToUnicode`` the character, so copying and search get
the text, characters outside the BMP included.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pikepdf
from fontTools.ttLib import TTFont
from lxml import etree
from pikepdf import Array, Dictionary, Name

from ingest.ocr import typography

FONT_PATH = Path(importlib.util.find_spec("ocrmypdf").origin).parent / "data" / "Occulta.ttf"  # not imported
WIDE_GLYPH = "blank2"  # the full-width blank, for characters the font does not map
MIN_FONT_PT = 1.0


@functools.cache
def _font_program() -> tuple[bytes, dict[int, tuple[int, int]], tuple[int, int]]:
    """The font file, each code point's (glyph id, width), and the wide blank's."""
    data = FONT_PATH.read_bytes()
    font = TTFont(FONT_PATH)
    metrics = font["hmtx"].metrics
    order = {name: gid for gid, name in enumerate(font.getGlyphOrder())}
    glyphs = {cp: (order[name], metrics[name][0]) for cp, name in font.getBestCmap().items()}
    return data, glyphs, (order[WIDE_GLYPH], metrics[WIDE_GLYPH][0])


class GlyphlessFont:
    """One document's font: the characters its pages use, numbered as they first appear."""

    def __init__(self) -> None:
        self.cids: dict[str, int] = {}

    def encode(self, text: str) -> tuple[bytes, int]:
        """The text as two-byte CIDs in hex, and its advance in thousandths of the font size."""
        codes, advance = [], 0
        for char in text:
            cid = self.cids.setdefault(char, len(self.cids) + 1)
            if cid > 0xFFFF:
                raise ValueError("more than 65535 distinct characters in one document's text layer")
            codes.append(f"{cid:04X}")
            advance += self.glyph(char)[1]
        return b"<" + "".join(codes).encode() + b">", advance

    @staticmethod
    def glyph(char: str) -> tuple[int, int]:
        _data, glyphs, wide = _font_program()
        return glyphs.get(ord(char), wide)

    def make(self, pdf: pikepdf.Pdf) -> pikepdf.Object:
        """The Type 0 font object for the characters encoded so far."""
        data, _glyphs, _wide = _font_program()
        chars = sorted(self.cids, key=self.cids.__getitem__)
        to_gid = bytearray(2)  # CID 0 is never shown
        for char in chars:
            to_gid += self.glyph(char)[0].to_bytes(2, "big")
        program = pdf.make_stream(data)
        program.Length1 = len(data)
        descriptor = Dictionary(Type=Name.FontDescriptor, FontName=Name.Occulta, Flags=4,
                                FontBBox=Array([0, -200, 1000, 800]), ItalicAngle=0, Ascent=800,
                                Descent=-200, CapHeight=800, StemV=80, FontFile2=program)
        cid_font = Dictionary(Type=Name.Font, Subtype=Name.CIDFontType2, BaseFont=Name.Occulta,
                              CIDSystemInfo=Dictionary(Registry="Adobe", Ordering="Identity", Supplement=0),
                              FontDescriptor=pdf.make_indirect(descriptor), DW=1000,
                              W=Array([1, Array([self.glyph(c)[1] for c in chars])]) if chars else Array(),
                              CIDToGIDMap=pdf.make_stream(bytes(to_gid)))
        font = Dictionary(Type=Name.Font, Subtype=Name.Type0, BaseFont=Name.Occulta, Encoding=Name("/Identity-H"),
                          DescendantFonts=Array([pdf.make_indirect(cid_font)]),
                          ToUnicode=pdf.make_stream(_to_unicode(chars)))
        return pdf.make_indirect(font)


def _to_unicode(chars: list[str]) -> bytes:
    entries = [f"<{cid:04X}> <{char.encode('utf-16-be').hex().upper()}>" for cid, char in enumerate(chars, 1)]
    blocks = [f"{len(chunk)} beginbfchar\n" + "\n".join(chunk) + "\nendbfchar"
              for chunk in (entries[i:i + 100] for i in range(0, len(entries), 100))]
    return ("/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
            "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
            "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
            + "\n".join(blocks) + "\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n").encode()


@dataclass(frozen=True)
class Box:
    left: float
    top: float
    right: float
    bottom: float


@dataclass(frozen=True)
class Line:
    """One hOCR line: its box, baseline (slope, offset from the box's bottom left), angle, words."""

    box: Box
    slope: float
    intercept: float
    angle: float
    words: tuple[tuple[str, Box], ...]


_BBOX = re.compile(r"bbox (-?\d+) (-?\d+) (-?\d+) (-?\d+)")
_BASELINE = re.compile(r"baseline (-?[\d.]+) (-?[\d.]+)")
_ANGLE = re.compile(r"textangle (-?[\d.]+)")


def _box(title: str) -> Box | None:
    match = _BBOX.search(title)
    return Box(*map(float, match.groups())) if match else None


def read_hocr(hocr: Path) -> tuple[Box, list[Line]]:
    """The page box and its lines as the engine wrote them: text unnormalised (OCRmyPDF's parser
    folds it to NFKC, turning the full-width punctuation of Chinese text into ASCII)."""
    root = etree.parse(str(hocr)).getroot()
    page = _box(root.xpath("//*[@class='ocr_page']")[0].get("title", ""))
    if page is None:
        raise ValueError(f"{hocr}: the page has no bbox")
    lines = []
    for element in typography.line_elements(root):
        title = element.get("title", "")
        box, baseline, angle = _box(title), _BASELINE.search(title), _ANGLE.search(title)
        words = tuple((text, word_box) for word in element.xpath(typography.WORD_XPATH)
                      if (text := typography.word_text(word)) and (word_box := _box(word.get("title", ""))))
        if box is not None and box.bottom > box.top and words:
            slope, intercept = map(float, baseline.groups()) if baseline else (0.0, -(box.bottom - box.top) * 0.2)
            lines.append(Line(box, slope, intercept, float(angle.group(1)) if angle else 0.0, words))
    return page, lines


def draw_page(hocr: Path, dpi: float, font: GlyphlessFont) -> tuple[bytes, tuple[float, float]]:
    """The page's text-showing operators (in points, origin bottom left) and the page size."""
    page, lines = read_hocr(hocr)
    scale = 72 / dpi
    height = page.bottom - page.top
    ops = [b"BT", b"3 Tr"]
    for line in lines:
        ops += _draw_line(line, height, scale, font)
    ops.append(b"ET")
    return b"\n".join(ops) + b"\n", ((page.right - page.left) * scale, height * scale)


def _draw_line(line: Line, page_height: float, scale: float, font: GlyphlessFont) -> list[bytes]:
    """Each word placed on the line's baseline and stretched to its box. Next to a CJK word it
    stretches on to the next word when that is near (under two font sizes away): extractors
    read a gap as a space, and Chinese text must extract and search unbroken. Between two
    other words the gap on the page stays, and extractors read the space from it."""
    angle, slope, intercept, lbox = math.radians(line.angle), line.slope, line.intercept, line.box
    vertical = abs(math.sin(angle)) > abs(math.cos(angle))
    size = max(MIN_FONT_PT / scale, lbox.right - lbox.left if vertical else lbox.bottom - lbox.top + intercept)
    norm = math.hypot(1, slope)
    cos, sin = (math.cos(angle), math.sin(angle)) if vertical else (1 / norm, -slope / norm)
    ops = [f"/F1 {size * scale:.2f} Tf".encode()]
    for n, (text, box) in enumerate(line.words):
        after = line.words[n + 1] if n + 1 < len(line.words) else None
        if vertical:
            x, y, start, end = (box.left + box.right) / 2, box.bottom, -box.bottom, -box.top
            following = -after[1].bottom if after else 0.0
        else:
            x, y, start, end = box.left, lbox.bottom + intercept + slope * (box.left - lbox.left), box.left, box.right
            following = after[1].left if after else 0.0
        if after and (typography.is_cjk(text[-1]) or typography.is_cjk(after[0][0])) \
                and start < following and following - end <= 2 * size:
            end = following
        hex_text, advance = font.encode(text)
        if advance <= 0 or end <= start:
            continue
        stretch = 100 * (end - start) / (advance * size / 1000)
        ops.append(f"{stretch:.2f} Tz {cos:.5f} {sin:.5f} {-sin:.5f} {cos:.5f} {x * scale:.2f} "
                   f"{(page_height - y) * scale:.2f} Tm".encode() + b" " + hex_text + b" Tj")
    return ops
