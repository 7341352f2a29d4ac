"""Format checks: identify each file by its content, then open it safely.

Content decides, not the name: siegfried identifies the file against PRONOM (``fmt/43`` JPEG,
``fmt/353`` TIFF, ``fmt/17`` PDF 1.3 …) and the format's MIME type is compared with both the
manifest's ``media_type`` and the file extension. A file whose content disagrees is not
inspected further (it must be resent anyway). A file PRONOM cannot identify is opened all the
same, so a damaged PDF or image is reported as damaged (E201/E205, what the station can act
on); when it opens cleanly, being unidentifiable is itself the finding (E220).

PDFs are opened with pikepdf from the bytes already read. Damaged or truncated PDFs (qpdf had
to repair them, or ``%%EOF`` is missing), encrypted PDFs and PDFs with active content
(JavaScript, embedded files, launch/URI/submit actions, automatic actions, XFA) are refused,
not sanitised: the archive keeps the station's original bit for bit, so a cleaned copy would no
longer match the digest the station sent. Images (in PDFs and as TIFF/JPEG/PNG files) have
their pixel count checked against a limit before anything is decoded (decompression bombs);
JPEGs are decoded at reduced size (``draft``), which is all the blank-page check needs.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

import pikepdf
from PIL import Image, ImageSequence

from ingest._exec.siegfried import Identification
from schemas.errors import Problem

PDF, TIFF, JPEG, PNG = "application/pdf", "image/tiff", "image/jpeg", "image/png"
EXTENSIONS = {".pdf": PDF, ".tif": TIFF, ".tiff": TIFF, ".jpg": JPEG, ".jpeg": JPEG, ".png": PNG}
# Only to tell a damaged file from another format once PRONOM has failed (its PDF signatures
# need the end marker too, so every truncated PDF is unidentified): never an identification.
HEADERS = {PDF: (b"%PDF-",), TIFF: (b"II*\x00", b"MM\x00*"), JPEG: (b"\xff\xd8\xff",), PNG: (b"\x89PNG\r\n\x1a\n",)}
DRAFT_SCALE = 4  # decode page images at 1/4 size for the blank check
DARK_LEVEL = 128
ACTIVE_ACTIONS = {"/JavaScript": "JavaScript", "/Launch": "launch action", "/URI": "URI action",
                  "/SubmitForm": "submit-form action", "/ImportData": "import-data action",
                  "/GoToE": "embedded-file action", "/GoToR": "remote go-to action",
                  "/RichMediaExecute": "rich media"}
ACTIVE_KEYS = {"/JS": "JavaScript", "/EF": "embedded files", "/EmbeddedFiles": "embedded files",
               "/AA": "automatic actions", "/XFA": "XFA form", "/RichMediaContent": "rich media"}


@dataclass(frozen=True)
class PageInfo:
    """What the page checks need of one page: its resolution and share of dark pixels."""

    page: int
    dpi: float | None = None
    dark_fraction: float | None = None


@dataclass(frozen=True)
class Inspection:
    """Findings of one file's format check; ``pages`` is None when its pages could not be read."""

    problems: tuple[Problem, ...]
    pages: tuple[PageInfo, ...] | None


def identified_type(identified: Identification) -> str | None:
    """The media type of the PRONOM format, among those a station may send; None if another."""
    mimes = {m.strip() for m in identified.mime.split(",")}
    return next((t for t in (PDF, TIFF, JPEG, PNG) if t in mimes), None)


def describe_format(identified: Identification) -> str:
    """``JPEG File Interchange Format 1.01 (fmt/43)``: what a person reading a problem needs."""
    if not identified.is_known:
        return "unknown content"
    return f"{identified.name} {identified.version}".strip() + f" ({identified.puid})"


def format_problem(path: str, media_type: str, identified: Identification) -> Problem | None:
    """E200 when PRONOM identifies something else than the manifest and the extension say."""
    if not identified.is_known:
        return None
    found = identified_type(identified)
    by_name = EXTENSIONS.get(PurePosixPath(path).suffix.lower())
    if found != media_type:
        return Problem.of("E200", path, expected=media_type, found=f"{found or 'another format'}, "
                          f"{describe_format(identified)}")
    if by_name != found:
        return Problem.of("E200", path, expected=by_name or "an unknown extension", found=found)
    return None


def has_header(media_type: str, data: bytes) -> bool:
    """Whether the bytes begin as a file of ``media_type`` does (a PDF header within 1 KiB)."""
    if media_type == PDF:
        return b"%PDF-" in data[:1024]
    return data.startswith(HEADERS.get(media_type, (b"\0invalid",)))


def _unidentified(path: str, media_type: str, identified: Identification, inspection: Inspection) -> Inspection:
    """A file PRONOM does not know but that begins like the claimed format: damaged when the
    format's reader has findings, unidentified (E220) when it opens cleanly."""
    if identified.is_known or inspection.problems:
        return inspection
    return Inspection((Problem.of("E220", path, expected=media_type, found="siegfried: unknown"),),
                      inspection.pages)


def dark_fraction(image: Image.Image) -> float:
    """Share of pixels darker than mid-grey; ``image`` should already be reduced."""
    gray = image if image.mode == "L" else image.convert("L")
    histogram = gray.histogram()
    return sum(histogram[:DARK_LEVEL]) / max(1, gray.width * gray.height)


def _open_image(data: bytes) -> Image.Image:
    """Open (header only). Pillow's own bomb check also applies: it raises above ~179 megapixels
    (reported as E204) and warns above ~89; the warning filter is not touched (threads share it)."""
    return Image.open(io.BytesIO(data))


def _reduced(image: Image.Image) -> Image.Image:
    """The image decoded at 1/DRAFT_SCALE size: cheap for JPEG, a box reduce otherwise."""
    if image.format == "JPEG":
        image.draft("L", (image.width // DRAFT_SCALE, image.height // DRAFT_SCALE))
        return image.convert("L")
    return image.convert("L").reduce(DRAFT_SCALE)


def _pdf_damage(data: bytes, pdf: pikepdf.Pdf) -> str | None:
    """Why qpdf had to repair the file, or a missing end-of-file marker (a truncated transfer)."""
    warnings_ = [w.split(": ", 1)[-1] for w in pdf.get_warnings()]
    if warnings_:
        return "; ".join(warnings_[:2])
    if b"%%EOF" not in data[-1024:]:
        return "no %%EOF marker at the end"
    return None


def _active_in(obj: pikepdf.Object, found: set[str], depth: int = 0) -> None:
    """Collect active-content names in ``obj`` and its direct (not indirect) children."""
    if isinstance(obj, pikepdf.Stream):
        obj = obj.stream_dict
    if isinstance(obj, pikepdf.Dictionary):
        action = obj.get("/S")
        if isinstance(action, pikepdf.Name) and str(action) in ACTIVE_ACTIONS:
            found.add(ACTIVE_ACTIONS[str(action)])
        found.update(name for key, name in ACTIVE_KEYS.items() if key in obj)
        children = obj.values()
    elif isinstance(obj, pikepdf.Array):
        children = list(obj)
    else:
        return
    for child in children:
        if depth < 16 and isinstance(child, pikepdf.Object) and not child.is_indirect:
            _active_in(child, found, depth + 1)


def active_content(pdf: pikepdf.Pdf) -> list[str]:
    """Names of the active content anywhere in the file, orphaned objects included."""
    found: set[str] = set()
    for obj in pdf.objects:
        _active_in(obj, found)
    return sorted(found)


def _largest_image(page: pikepdf.Page) -> pikepdf.Stream | None:
    xobjects = page.obj.get("/Resources", {}).get("/XObject", {})
    images = [x for x in xobjects.values()
              if isinstance(x, pikepdf.Stream) and x.get("/Subtype") == "/Image"]
    return max(images, key=lambda x: int(x.get("/Width", 0)) * int(x.get("/Height", 0)), default=None)


def _page_dpi(page: pikepdf.Page, width: int, height: int) -> float | None:
    """Pixels per inch of an image filling the page, whichever way round it lies."""
    box = [float(v) for v in page.mediabox]
    sides = sorted((abs(box[2] - box[0]), abs(box[3] - box[1])))
    if sides[0] <= 0:
        return None
    pixels = sorted((width, height))
    return min(pixels[0] / sides[0], pixels[1] / sides[1]) * 72


def _decode_pdf_image(image: pikepdf.Stream) -> Image.Image:
    if image.get("/Filter") == "/DCTDecode":
        return _reduced(_open_image(image.read_raw_bytes()))
    return pikepdf.PdfImage(image).as_pil_image().convert("L").reduce(DRAFT_SCALE)


def _pdf_page(path: str, number: int, page: pikepdf.Page, max_pixels: int,
              ) -> tuple[PageInfo, list[Problem]]:
    image = _largest_image(page)
    if image is None:
        return PageInfo(number), []
    width, height = int(image.get("/Width", 0)), int(image.get("/Height", 0))
    dpi = _page_dpi(page, width, height)
    if width * height > max_pixels:
        return PageInfo(number, dpi), [Problem.of("E204", path, found=width * height, page=number)]
    try:
        dark = dark_fraction(_decode_pdf_image(image))
    except (OSError, ValueError, pikepdf.PdfError, Image.DecompressionBombError) as exc:
        reason = f"page {number} image: {exc}"
        return PageInfo(number, dpi), [Problem.of("E201", path, reason=reason)]
    return PageInfo(number, dpi, dark), []


def inspect_pdf(path: str, data: bytes, max_pixels: int) -> Inspection:
    """Structure, encryption and active content, then each page's resolution and darkness."""
    try:
        pdf = pikepdf.open(io.BytesIO(data))
    except pikepdf.PasswordError:
        return Inspection((Problem.of("E202", path),), None)
    except pikepdf.PdfError as exc:
        return Inspection((Problem.of("E201", path, reason=str(exc).split(": ", 1)[-1]),), None)
    with pdf:
        damage = _pdf_damage(data, pdf)
        if damage:
            return Inspection((Problem.of("E201", path, reason=damage),), None)
        problems = [Problem.of("E202", path)] if pdf.is_encrypted else []
        active = active_content(pdf)
        if active:
            problems.append(Problem.of("E203", path, found=", ".join(active)))
        pages = []
        for number, page in enumerate(pdf.pages, 1):
            info, found = _pdf_page(path, number, page, max_pixels)
            pages.append(info)
            problems += found
    return Inspection(tuple(problems), tuple(pages))


def _frames(image: Image.Image) -> Iterator[tuple[int, Image.Image]]:
    for number, frame in enumerate(ImageSequence.Iterator(image), 1):
        yield number, frame


def _image_page(path: str, number: int, frame: Image.Image, max_pixels: int,
                ) -> tuple[PageInfo, list[Problem]]:
    dpi_info = frame.info.get("dpi")
    dpi = float(min(dpi_info)) if dpi_info and min(dpi_info) > 0 else None
    if frame.width * frame.height > max_pixels:
        return PageInfo(number, dpi), [Problem.of("E204", path, found=frame.width * frame.height)]
    return PageInfo(number, dpi, dark_fraction(_reduced(frame))), []


def inspect_image(path: str, data: bytes, max_pixels: int) -> Inspection:
    """Every frame of a TIFF (or the one page of a JPEG/PNG), size-checked before decoding."""
    pages: list[PageInfo] = []
    problems: list[Problem] = []
    try:
        with _open_image(data) as image:
            for number, frame in _frames(image):
                info, found = _image_page(path, number, frame, max_pixels)
                pages.append(info)
                problems += found
    except Image.DecompressionBombError as exc:
        pixels = re.search(r"\d+", str(exc))
        return Inspection((Problem.of("E204", path, found=pixels[0] if pixels else "?"),), None)
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        return Inspection((*problems, Problem.of("E205", path, reason=str(exc) or type(exc).__name__)), None)
    return Inspection(tuple(problems), tuple(pages))


def inspect_file(path: str, media_type: str, data: bytes, max_pixels: int,
                 identified: Identification) -> Inspection:
    """Format by PRONOM identification first; only a file that is what it claims is opened."""
    mismatch = format_problem(path, media_type, identified)
    if not identified.is_known and not has_header(media_type, data):
        mismatch = Problem.of("E200", path, expected=media_type, found=describe_format(identified))
    if mismatch:
        return Inspection((mismatch,), None)
    inspect = inspect_pdf if media_type == PDF else inspect_image
    return _unidentified(path, media_type, identified, inspect(path, data, max_pixels))
