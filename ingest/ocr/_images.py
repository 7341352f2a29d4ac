"""Page images: taken straight out of the scan (no rasterising) and prepared for recognition.

Preparation only changes the copy Tesseract reads. The archived image is never re-encoded.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pikepdf
from PIL import Image, ImageChops

Image.MAX_IMAGE_PIXELS = 200_000_000

# red minus max(green, blue): seal ink is far redder than black text or paper. Measured on 8 seal
# pages of corpus seed 1 (weighted CER): grey + margin 50 5.4 %, red channel + 50 5.1 %,
# red channel + 70 4.5 %, + 90 4.6 %, + 110 5.3 %.
SEAL_RED_MARGIN = 70
# Paper whiter than (paper level - margin) becomes pure white: Tesseract's own Otsu threshold
# then no longer lands in the paper grain of sparse pages (a signature page read as nothing).
# Weighted CER on 58 corpus pages (seeds 5 and 21, 200 dpi): as scanned 3.04 %, margin 45
# 2.31 %, 30 2.28 %, 20 2.35 %; fixed thresholds 150/170/195/210/225: 2.99/2.54/2.34/2.32/2.33 %.
PAPER_MARGIN = 30
BLANK_INK_FRACTION = 0.001  # injected blank sheets have <= 0.03 % dark pixels, real pages >= 0.5 %
SKEW_STEP_DEG = 0.125
SKEW_RANGE_DEG = 2.0
SKEW_MIN_DEG = 0.25  # below this Tesseract reads as well as after straightening


def is_tiff(path: Path) -> bool:
    """Whether the file starts with a TIFF signature (either byte order)."""
    with path.open("rb") as fh:
        return fh.read(4) in (b"II*\x00", b"MM\x00*")


def count_pages(path: Path) -> int:
    """Number of pages of a PDF or multi-page TIFF; raises on a damaged file."""
    if is_tiff(path):
        with Image.open(path) as img:
            return getattr(img, "n_frames", 1)
    with pikepdf.open(path) as pdf:
        return len(pdf.pages)


def load_page(path: Path, index: int) -> tuple[Image.Image, int]:
    """The page's scanned image (0-based index) and its resolution in dpi."""
    if is_tiff(path):
        with Image.open(path) as img:
            img.seek(index)
            dpi = img.info.get("dpi", (200, 200))[0]
            return img.copy(), round(float(dpi))
    with pikepdf.open(path) as pdf:
        page = pdf.pages[index]
        images = list(page.images.values())
        if len(images) != 1:
            raise ValueError(f"page {index + 1} holds {len(images)} images, expected one scan")
        image = pikepdf.PdfImage(images[0]).as_pil_image()
        width_pt = float(page.mediabox[2]) - float(page.mediabox[0])
        if int(page.obj.get("/Rotate", 0)) % 180:
            width_pt = float(page.mediabox[3]) - float(page.mediabox[1])
        return image, round(image.width * 72 / width_pt)


def suppress_seal(image: Image.Image) -> Image.Image:
    """The red channel (a scanner's red drop-out: red ink turns light, black text stays dark)
    with strongly red pixels turned white, so seal ink does not hide the text under it."""
    if image.mode not in ("RGB", "RGBA", "CMYK", "P"):
        return image.convert("L")
    red, green, blue = image.convert("RGB").split()
    redness = ImageChops.subtract(red, ImageChops.lighter(green, blue))
    mask = redness.point(lambda v: 255 if v > SEAL_RED_MARGIN else 0)
    red.paste(255, mask=mask)
    return red


def whiten_paper(grey: Image.Image) -> Image.Image:
    """The grey copy with the paper (the brightest common level) and anything within
    ``PAPER_MARGIN`` of it set to white; ink and its anti-aliased edges are untouched."""
    histogram = grey.histogram()
    paper = max(range(128, 256), key=lambda level: histogram[level])
    cut = paper - PAPER_MARGIN
    return grey.point(lambda v: 255 if v > cut else v)


def ink_fraction(grey: Image.Image) -> float:
    """Share of dark (< 128) pixels, measured on a quarter-size copy."""
    small = grey.reduce(4)
    histogram = small.histogram()
    return sum(histogram[:128]) / max(1, small.width * small.height)


def is_blank(grey: Image.Image) -> bool:
    """A sheet with almost no ink: kept, flagged, and not sent to the engine."""
    return ink_fraction(grey) < BLANK_INK_FRACTION


def _row_profile_energy(binary: Image.Image, angle: float) -> float:
    rows = binary.rotate(angle, resample=Image.Resampling.NEAREST).resize((1, binary.height), Image.Resampling.BOX)
    values = list(rows.tobytes())
    mean = sum(values) / len(values)
    return sum((v - mean) ** 2 for v in values)


def detect_skew(grey: Image.Image) -> float:
    """Counter-clockwise degrees that straighten the text lines (projection profile).

    Text lines give the sharpest row profile when horizontal; on a quarter-size binary copy,
    coarse steps then fine steps around the best (13 rotations instead of 33), this costs a
    few tens of milliseconds, against Tesseract's second pass in ocrmypdf.
    """
    binary = grey.reduce(4).point(lambda v: 255 if v < 160 else 0)
    coarse = SKEW_STEP_DEG * 4
    steps = int(SKEW_RANGE_DEG / coarse)
    best = max((i * coarse for i in range(-steps, steps + 1)), key=lambda a: _row_profile_energy(binary, a))
    fine = [best + i * SKEW_STEP_DEG for i in (-3, -2, -1, 1, 2, 3) if abs(best + i * SKEW_STEP_DEG) <= SKEW_RANGE_DEG]
    return max([best, *fine], key=lambda a: _row_profile_energy(binary, a))


def straighten(grey: Image.Image, angle: float) -> Image.Image:
    """The grey copy turned counter-clockwise by ``angle`` about its centre, same size, bicubic.
    OpenCV's warp rather than Pillow's rotate: a quarter of the CPU (0.02 against 0.09 s for a
    200 dpi A4 page, most pages are straightened), pixels within 0.2 grey levels on average."""
    pixels = np.asarray(grey)
    height, width = pixels.shape
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    return Image.fromarray(cv2.warpAffine(pixels, turn, (width, height), flags=cv2.INTER_CUBIC,
                                          borderMode=cv2.BORDER_CONSTANT, borderValue=255))


def turn_upright(grey: Image.Image, clockwise: int) -> Image.Image:
    """The grey copy turned clockwise by a multiple of 90 degrees."""
    return grey.rotate(-clockwise, expand=True) if clockwise % 360 else grey
