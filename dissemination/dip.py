"""Build a dissemination information package (DIP): the reader's zip of sealed copies.

Layout of ``<out_dir>/<request_id>/`` and of ``<out_dir>/<request_id>.zip``::

    00-卷内目录.pdf        table of contents, PDF/A-2b (watermarked and sealed like the rest)
    01-民事起诉状.pdf      one watermarked, sealed copy per document, in 卷内顺序 (seq)
    ...
    manifest.json          SHA-256 and size of every file above
    request.json           the request record as decided
    README.txt             for the reader, Chinese and English

Only disclosable 正卷 documents may be given: ``build_dip`` raises E505 for anything
else, even though the caller is expected to have filtered already (defence in depth).

Reproducibility: without a seal the zip is byte-identical for the same inputs and
``issued_at`` (invariant reportlab output, deterministic pikepdf /ID, fixed zip
timestamps). Signing adds the clock's signing time and random bytes, so a sealed DIP is
kept as issued; regenerating it gives the same pages, watermark and trace id under a new seal.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pikepdf
from pydantic import BaseModel, ConfigDict
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from archive.signing import FileSigner, Signer, TimestampingSigner
from archive.trusted_time import TimestampAuthority
from dissemination.seal import LtaContext, Sealer
from dissemination.template import copy_template, reader_revision
from dissemination.watermark import LATIN_FONT_NAME, WatermarkSpec, font_runs, register_fonts, watermark_pdf
from schemas.errors import InputRejected

TOC_NAME = "00-卷内目录.pdf"
PDFA_FLAVOUR = "2b"
TOC_COLUMNS = (72.0, 130.0, 300.0, 370.0)
READABLE_VOLUME = "正卷"
SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class DipDocument(_Frozen):
    document_id: str
    title: str
    source_pdf: Path  # the AIP's PDF/A representation
    seq: int
    volume: str
    disclosable: bool
    is_pdfa: bool = False  # the source is the AIP's PDF/A: its copy must stay PDF/A-2b


class SealConfig(_Frozen):
    key_path: Path
    cert_path: Path
    reason: str = "电子阅卷副本 / dissemination copy"
    location: str = ""
    chain: Path | None = None  # the seal certificate's issuers (the archive root), embedded in signatures
    lta: LtaContext | None = None  # with a TSA: PAdES B-LTA, and manifest.json's signature timestamped


class DipRecord(_Frozen):
    request_id: str
    zip_path: Path
    files: tuple[Path, ...]  # the table of contents first, then the copies, manifest, request, readme
    copies: tuple[tuple[str, Path], ...]  # (document_id, its copy): what each issued file holds
    manifest_sha256: str


def check_disclosable(documents: Sequence[DipDocument]) -> None:
    """Raise E505 for the first document a reader must never receive."""
    for doc in documents:
        if doc.volume != READABLE_VOLUME or not doc.disclosable:
            found = doc.volume if doc.volume != READABLE_VOLUME else "不公开材料 (not disclosable)"
            raise InputRejected("E505", str(doc.source_pdf), found=found)


def copy_name(doc: DipDocument) -> str:
    """``01-民事起诉状.pdf``: the seq, then the title with path-unsafe characters replaced."""
    title = re.sub(r'[\\/:*?"<>|\s]+', "_", doc.title).strip("._") or "document"
    return f"{doc.seq:02d}-{title}.pdf"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _draw_line(canvas: Canvas, x: float, y: float, text: str, size: float) -> None:
    obj = canvas.beginText(x, y)
    for font, run in font_runs(text):
        obj.setFont(font, size)
        obj.textOut(run)
    canvas.drawText(obj)


def _draw_row(canvas: Canvas, y: float, cells: tuple[str, str, str, str]) -> None:
    for x, cell in zip(TOC_COLUMNS, cells, strict=True):
        _draw_line(canvas, x, y, cell, 10)


def render_toc(rows: Sequence[tuple[str, str, int]], spec: WatermarkSpec, dest: Path) -> Path:
    """The 卷内目录 as a PDF: one row per copy (file name, title, pages); same rows, same bytes."""
    register_fonts()
    canvas = Canvas(str(dest), pagesize=A4, invariant=1, initialFontName=LATIN_FONT_NAME)
    canvas.setTitle(f"{spec.case_number} 卷内目录")
    y = A4[1] - 90
    _draw_line(canvas, 72, y, "卷内目录 Table of contents", 18)
    _draw_line(canvas, 72, y - 28, f"{spec.case_number}  {spec.request_id}", 11)
    y -= 70
    _draw_row(canvas, y, ("序号 No.", "材料名称 Title", "页数 Pages", "文件 File"))
    for index, (name, title, pages) in enumerate(rows, 1):
        y -= 22
        if y < 72:
            canvas.showPage()
            y = A4[1] - 72
        _draw_row(canvas, y, (str(index), title, str(pages), name))
    canvas.showPage()
    canvas.save()
    return _make_pdfa(dest)


def _make_pdfa(path: Path) -> Path:
    """Rewrite reportlab's output as PDF/A-2b, like the documents beside it: an output intent,
    XMP, clean stream framing. reportlab's empty page ``/Trans`` is dropped (PDF/A-2 knows no
    such key, and pikepdf refuses to vouch for what it cannot check)."""
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        for page in pdf.pages:
            if "/Trans" in page.obj and not page.obj.Trans.keys():
                del page.obj["/Trans"]
        pikepdf.pdfa.save(pdf, None, PDFA_FLAVOUR, output_intent="sRGB", deterministic_id=True)
    return path


def sealer_for(seal: SealConfig | None) -> Sealer | None:
    return None if seal is None else Sealer(key_path=seal.key_path, cert_path=seal.cert_path,
                                            reason=seal.reason, location=seal.location, chain=seal.chain,
                                            lta=seal.lta)


def manifest_signer(seal: SealConfig) -> Signer:
    """The seal's key signs manifest.json too (detached CMS, timestamped when there is a TSA)."""
    signer: Signer = FileSigner(seal.key_path, seal.cert_path, seal.chain)
    return TimestampingSigner(signer, TimestampAuthority(seal.lta.tsa_url)) if seal.lta else signer


def sign_manifest(manifest: Path, seal: SealConfig) -> Path:
    """``manifest.json.p7s``: checkable with OpenSSL and the archive root alone (see README)."""
    target = manifest.with_name(manifest.name + ".p7s")
    target.write_bytes(manifest_signer(seal).sign_detached(manifest.read_bytes()))
    return target


def issue_copy(src: Path, dest: Path, spec: WatermarkSpec, sealer: Sealer | None,
               templates: Path | None = None) -> Path:
    """One reader's copy of ``src``: watermarked and, with a sealer, sealed in the same update
    over the document's copy template (kept under ``templates``, see ``dissemination.template``);
    the seal covers the watermark, so any later change breaks it."""
    if sealer is None:
        return watermark_pdf(src, dest, spec)
    if src.resolve() == dest.resolve():
        raise ValueError(f"{src}: refusing to issue a copy in place")
    with copy_template(src, templates, dest.parent) as template:
        return sealer.write(template, dest, reader_revision(spec))


def _page_count(pdf: Path) -> int:
    with pikepdf.open(pdf) as doc:
        return len(doc.pages)


def _write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True, default=str) + "\n",
                    encoding="utf-8")
    return path


def write_manifest(folder: Path, copies: Sequence[Path], spec: WatermarkSpec) -> Path:
    entries = [{"path": p.name, "sha256": _sha256(p), "bytes": p.stat().st_size} for p in copies]
    return _write_json(folder / "manifest.json", {
        "request_id": spec.request_id, "case_number": spec.case_number,
        "issued_at": spec.issued_at.isoformat(), "trace_id": spec.trace_id,
        "algorithm": "SHA-256", "files": entries,
    })


def write_readme(folder: Path, spec: WatermarkSpec, sealed: bool) -> Path:
    seal_zh = "每个 PDF 均加盖电子签章（PAdES），任何改动都会使签章失效。" if sealed else "本副本未加盖电子签章。"
    seal_en = ("Every PDF carries an electronic seal (PAdES); any change invalidates it." if sealed
               else "This copy is not sealed.")
    text = "\n".join([
        f"案号 Case: {spec.case_number}",
        f"申请编号 Request: {spec.request_id}",
        f"阅卷人 Reader: {spec.reader_name} {spec.reader_id_masked}",
        f"出具时间 Issued: {spec.issued_at.isoformat()}",
        "",
        f"{spec.notice}。每页带有阅卷人水印和追踪标识，可追溯到本次申请。{seal_zh}",
        "manifest.json 记录每个文件的 SHA-256 摘要，可用于核对文件是否完整；manifest.json.p7s 是法院对它的签名。",
        "",
        "For reading in this case only; do not pass on. Every page carries a watermark and a",
        f"trace mark that identify this request. {seal_en}",
        "manifest.json lists the SHA-256 digest of every file, to check that nothing changed;",
        "manifest.json.p7s is the court's signature over it (openssl cms -verify with the court's root certificate).",
        "",
    ])
    path = folder / "README.txt"
    path.write_text(text, encoding="utf-8")
    return path


def zip_dip(files: Sequence[Path], dest: Path, spec: WatermarkSpec) -> Path:
    """A zip with fixed member order, times and permissions, so equal files give equal bytes.

    PDFs are stored, not deflated: their streams are compressed already.
    """
    stamp = spec.issued_at.timetuple()[:6]
    tmp = dest.with_name(f".{dest.name}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            info = zipfile.ZipInfo(f"{spec.request_id}/{path.name}", date_time=stamp)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_STORED if path.suffix == ".pdf" else zipfile.ZIP_DEFLATED
            info.flag_bits |= 0x800  # UTF-8 names
            with path.open("rb") as handle, archive.open(info, "w") as member:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    member.write(block)
    os.replace(tmp, dest)
    return dest


def build_dip(documents: Sequence[DipDocument], spec: WatermarkSpec, out_dir: Path, *,
              request_record: dict, seal: SealConfig | None, templates: Path | None = None) -> DipRecord:
    """Issue the reader's copies for one request and zip them as ``<out_dir>/<request_id>.zip``;
    sealed copies use the documents' copy templates kept under ``templates`` (made there when
    missing; without it, made for this DIP only)."""
    check_disclosable(documents)
    if not SAFE_ID.fullmatch(spec.request_id):
        raise ValueError(f"{out_dir}: request id {spec.request_id!r} is not safe as a file name")
    ordered = sorted(documents, key=lambda d: d.seq)
    folder = out_dir / spec.request_id
    folder.mkdir(parents=True, exist_ok=True)
    sealer = sealer_for(seal)
    copies = [issue_copy(d.source_pdf, folder / copy_name(d), spec, sealer, templates) for d in ordered]
    rows = [(p.name, d.title, _page_count(p)) for p, d in zip(copies, ordered, strict=True)]
    toc_plain = render_toc(rows, spec, folder / f".{TOC_NAME}.plain.pdf")
    toc = issue_copy(toc_plain, folder / TOC_NAME, spec, sealer)
    toc_plain.unlink()
    pdfs = [toc, *copies]
    manifest = write_manifest(folder, pdfs, spec)
    signed = (sign_manifest(manifest, seal),) if seal is not None else ()
    files = (*pdfs, manifest, *signed, _write_json(folder / "request.json", request_record),
             write_readme(folder, spec, seal is not None))
    zip_path = zip_dip(files, out_dir / f"{spec.request_id}.zip", spec)
    return DipRecord(request_id=spec.request_id, zip_path=zip_path, files=files,
                     copies=tuple((d.document_id, p) for d, p in zip(ordered, copies, strict=True)),
                     manifest_sha256=_sha256(manifest))
