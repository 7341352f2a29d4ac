"""Keep a long-lived worker's memory at what its current page needs.

glibc serves a block of at least the mmap threshold with its own mapping and unmaps it when
freed, but raises that threshold to the size of every such block freed (up to 32 MB). After
the first page, the next page's image-sized buffers (a 200 dpi A4 page is 4 MB grey, 12 MB in
colour) come from the heap instead, and freed heap memory pinned under a small live block
stays resident: each worker's resident size crept up with the pages it had read, and with
it the stage's peak. A fixed threshold keeps page buffers in their own mappings; a trim
after each page hands back what the heap freed. No-ops where the C library is not glibc.

Assembling a document's PDF/A leaves reference cycles behind (with OCRmyPDF's fpdf2 renderer,
which drew the text layer until ``_text_layer`` did, fpdf2's and fontTools' objects of its
fonts): Python's collector of the oldest generation ran only every few documents, so a
worker's resident size climbed by 15-20 MB a document and fell back in a saw tooth, and a
long batch met the saw's top where a short one did not (a worker after 30 pages of 200: 238 MB
with pages read alone, 264-315 MB with their documents assembled). A collection after each
document keeps the worker at its floor.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc

M_MMAP_THRESHOLD = -3  # mallopt parameter numbers from glibc's malloc.h
MMAP_THRESHOLD = 1 << 20  # blocks of 1 MiB and more get their own mapping


@functools.cache
def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def fix_mmap_threshold() -> None:
    """Stop glibc from raising the mmap threshold (call once, at worker start)."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def trim(collect: bool = False) -> None:
    """Return freed heap memory to the system (after each page); ``collect`` first frees the
    cyclic garbage (after each document)."""
    if collect:
        gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
