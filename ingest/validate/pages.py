"""Page checks on what the format check read: page count, resolution, blank pages.

Blank detection counts pixels darker than mid-grey on the page image decoded at 1/4 size.
Injected blank sheets in the test corpus have none at that size (dust and binding shadow
are lighter than mid-grey); the sparsest genuine page of a 500-page corpus batch had 0.24 % (0.5 % at full size).
The threshold sits well between the two. Pages without a raster image (born-digital PDFs)
get neither a resolution nor a blank check. Rotation is detected by OCR, not here.
"""

from __future__ import annotations

from ingest.manifest import FileEntry
from ingest.validate.formats import PageInfo
from schemas.errors import Problem

BLANK_DARK_FRACTION = 0.0005


def is_blank(page: PageInfo) -> bool:
    """True when the page image has almost no dark pixels; False when it was not measured."""
    return page.dark_fraction is not None and page.dark_fraction < BLANK_DARK_FRACTION


def is_low_resolution(page: PageInfo, min_dpi: int) -> bool:
    """True when the scan is below ``min_dpi`` (half a dot of rounding allowed)."""
    return page.dpi is not None and page.dpi + 0.5 < min_dpi


def check_pages(entry: FileEntry, pages: tuple[PageInfo, ...], min_dpi: int) -> list[Problem]:
    """Page count against the manifest, then each page's resolution (fatal) and blankness (flag)."""
    problems = []
    if len(pages) != entry.page_count:
        problems.append(Problem.of("E210", entry.path, expected=entry.page_count, found=len(pages)))
    for page in pages:
        if is_low_resolution(page, min_dpi):
            problems.append(Problem.of("E211", entry.path, page=page.page, found=round(page.dpi),
                                       expected=min_dpi))
        if is_blank(page):
            problems.append(Problem.of("E212", entry.path, page=page.page, fatal=False,
                                       found=f"{page.dark_fraction:.4%} dark"))
    return problems
