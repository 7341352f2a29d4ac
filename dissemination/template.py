"""Copy templates: the reader-independent part of every sealed copy of one document, made once.

A sealed copy is its document's template, byte for byte, followed by one incremental update
that carries the reader's watermark and the seal (``pades.write_signed``). Why: the seal's
digest covers the whole file, and for a 50 MB scanned document SHA-256 alone costs as much as
qpdf writing the file. With a fixed template the kernel copies it while a worker thread hashes
it, and only the update -- a few objects, whatever the page count -- is made per reader.

The template cannot be read as an unmarked copy. Every page's content is wrapped as
``[GATE, original content ..., PLACE]``:

- in the template, GATE (one stream shared by all pages) is ``q 0 0 0 0 re W n``: what
  follows is clipped to nothing, so every page shows blank; PLACE (one per page placement)
  ends that clip and draws ``/JzWatermark``, an empty form (one per page orientation);
- a reader's update (``reader_revision``) replaces GATE by ``q`` and each empty form by the
  reader's stamp, and sets the XMP with the copy's trace id.

Cutting a copy back to its first revision therefore leaves blank pages; what stays extractable
(the scans' image streams, the OCR text) is what pdfimages and pdftotext take from any
overlay-watermarked copy anyway. The catalog names the gate and the forms under
``/JuanzongCopyTemplate``; the reader's update removes that entry.

Templates are derived data under ``Settings.copy_template_root``, keyed by the source file's
identity (path, inode, size, modification and change times: a repaired or replaced AIP file
gets a new template) and the template format; unused ones are pruned after
``MAX_AGE_DAYS``. Deleting them costs only the time to remake them.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pikepdf
from pikepdf import Array, Dictionary, Name

from dissemination import pades
from dissemination.watermark import OPEN_GATE, WatermarkSpec, current_xmp, stamp_form, wrap_pages, xmp_packet

TEMPLATE_KEY = "/JuanzongCopyTemplate"
FORMAT_VERSION = 1
CLOSED_GATE = b"q 0 0 0 0 re W n\n"
MAX_AGE_DAYS = 14


def build_template(src: Path, dest: Path) -> Path:
    """Write the copy template of ``src`` to ``dest``. Not byte-reproducible (no deterministic
    /ID: that would read the whole file once more), and need not be: a copy is hashed from the
    template file it copies."""
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
    try:
        with pikepdf.open(src) as pdf:
            if TEMPLATE_KEY in pdf.Root:
                raise ValueError(f"{src}: is a copy template already")
            gate, forms = wrap_pages(pdf, CLOSED_GATE, lambda size: pdf.make_stream(
                b"", Type=Name.XObject, Subtype=Name.Form, BBox=[0, 0, *size]))
            pdf.Root[TEMPLATE_KEY] = Dictionary(Gate=gate, Stamps=Array(forms))
            pdf.save(tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def reader_revision(spec: WatermarkSpec) -> pades.Revise:
    """The reader's changes to a template: gate open, stamps in place, trace id in the XMP."""

    def revise(base: pikepdf.Pdf, scratch: pikepdf.Pdf) -> pades.Revision:
        marker = base.Root.get(TEMPLATE_KEY)
        if marker is None:
            raise ValueError(f"{base.filename}: not a copy template (no {TEMPLATE_KEY} in its catalog); "
                             "delete it, templates are remade on demand")
        revision = pades.Revision(catalog={"/Metadata": scratch.make_stream(
            xmp_packet(current_xmp(base), spec), Type=Name.Metadata, Subtype=Name.XML), TEMPLATE_KEY: None})
        revision.objects[marker.Gate.objgen[0]] = scratch.make_stream(OPEN_GATE)
        for form in marker.Stamps:
            revision.objects[form.objgen[0]] = stamp_form(scratch, spec, (float(form.BBox[2]), float(form.BBox[3])))
        return revision

    return revise


def template_path(src: Path, root: Path) -> Path:
    st = src.stat()
    identity = f"{FORMAT_VERSION}\0{src.resolve()}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}"
    return root / f"{hashlib.sha256(identity.encode()).hexdigest()[:32]}.pdf"


@contextmanager
def copy_template(src: Path, root: Path | None, scratch: Path) -> Iterator[Path]:
    """The template of ``src``: kept under ``root`` for every later copy, or, without a root,
    made in ``scratch`` for this copy only (a table of contents, made per request)."""
    if root is None:
        path = build_template(src, scratch / f".{uuid.uuid4().hex}.template.pdf")
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)
        return
    path = template_path(src, root)
    if path.is_file():
        os.utime(path)
    else:
        root.mkdir(parents=True, exist_ok=True)
        build_template(src, path)
        prune(root)
    yield path


def prune(root: Path, max_age_days: float = MAX_AGE_DAYS) -> list[Path]:
    """Remove templates not used for ``max_age_days``."""
    cutoff = time.time() - max_age_days * 86400
    removed = []
    for path in root.glob("*.pdf"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed.append(path)
        except FileNotFoundError:
            continue
    return removed
