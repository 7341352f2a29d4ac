"""PAdES B-B/B-T signing as one incremental update appended to a finished base file, with the
base's digest computed while it is copied.

Why not pyHanko's ``PdfSigner`` (used until the watermark+seal benchmark showed 7x a bare
overlay): for a 50 MB scanned copy it parsed the file again in Python, copied it whole into a
second file, signed twice (once only to size the signature) and read the copy back to hash it.
Here, per copy (``write_signed``):

1. a worker thread hashes the base (``_FileDigest``: one SHA-256 call over an mmap, the GIL
   released throughout) while the kernel copies it to the new file (``sendfile``);
2. meanwhile the base is opened (qpdf reads its xref, not its streams) and the update is built
   in memory: the caller's ``Revision`` (objects replaced, catalog entries set -- the reader's
   watermark, see ``dissemination.template``), the signature dictionary (/M = signing time,
   reserved /Contents), the signature field's widget with its appearance, page 1 with the
   widget in /Annots, the catalog with /AcroForm, and an xref section of the base's kind
   (table or stream) with /Prev;
3. the document digest is the base's digest continued over the update minus /Contents;
   pyHanko's signer makes the CMS with PAdES signed attributes (content type, message digest,
   ESS signing-certificate-v2; the signing time is /M, as PAdES requires) -- the same container
   ``PdfSigner`` makes;
4. with a TSA, the signature value is timestamped (the token goes into the CMS's unsigned
   attributes: PAdES B-T); the CMS goes into /Contents and the update is appended.

B-LT and B-LTA (the DSS with chain and revocation data, then a document timestamp) are two
further updates that pyHanko writes (``seal.extend_to_lta``).

pyHanko's validator checks the result (``seal.validate_sealed``).
"""

from __future__ import annotations

import asyncio
import binascii
import hashlib
import mmap
import os
import re
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pikepdf
from asn1crypto import cms
from pikepdf import Array, Dictionary, Name, String
from pyhanko.pdf_utils.generic import pdf_date
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.signers import Signer
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes

from archive.trusted_time import TimestampAuthority

DIGEST = "sha256"
BYTE_RANGE_WIDTH = 40  # "0 a b c" padded: room for three 10-digit offsets
TAIL = 2048  # bytes read from the end of the base to find its startxref
TOKEN_ROOM = 12288  # bytes reserved for a signature timestamp token
COMPRESS_OVER = 256  # unfiltered streams of the update larger than this are deflated (stamp, fonts)
COMPRESS_LEVEL = 6
FIELD_FLAGS = 132  # widget: Print | Locked

Rect = tuple[float, float, float, float]
Appearance = Callable[[pikepdf.Pdf, pikepdf.Page, datetime], tuple[Rect, pikepdf.Object]]


class _FileDigest:
    """SHA-256 of a finished file, computed on a worker thread while the caller copies it.

    The whole file is hashed in one ``update`` over an mmap: hashlib releases the GIL for the
    entire call, so the worker needs it only to start and to finish and never waits on the
    Python code the caller runs meanwhile. Copy and hash read the same open file, so a file
    replaced under its name in between cannot make them disagree.
    """

    def __init__(self, path: Path) -> None:
        self.handle = path.open("rb")
        self.size = os.fstat(self.handle.fileno()).st_size
        self._digest = hashlib.new(DIGEST)
        self._error: BaseException | None = None
        self._worker = threading.Thread(target=self._hash, name="pades-digest", daemon=True)
        self._worker.start()

    def _hash(self) -> None:
        try:
            if self.size:
                with mmap.mmap(self.handle.fileno(), self.size, prot=mmap.PROT_READ) as mapped, \
                        memoryview(mapped) as view:
                    self._digest.update(view)
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc

    def copy_to(self, fd: int) -> None:
        """Copy the file to ``fd`` in the kernel (no bytes pass through Python)."""
        offset = 0
        while offset < self.size:
            sent = os.sendfile(fd, self.handle.fileno(), offset, self.size - offset)
            if sent == 0:
                raise OSError(f"{self.handle.name}: file shrank while being copied")
            offset += sent

    def result(self):
        self._worker.join()
        if self._error is not None:
            raise self._error
        return self._digest

    def __enter__(self) -> _FileDigest:
        return self

    def __exit__(self, *exc: object) -> None:
        self._worker.join()
        self.handle.close()


class CmsTemplate:
    """pyHanko's PAdES CMS for one signer, made once; each document then gets a copy with its
    own message digest and a fresh signature over the signed attributes.

    With PAdES the signed attributes are content type, message digest and ESS
    signing-certificate-v2 (no signing time: that is /M), so only the digest changes from one
    document to the next. asn1crypto rebuilds and re-serialises the whole container on every
    ``Signer.async_sign`` (about 17 ms here); re-assembling the DER around the two new values
    takes microseconds. The signature itself still comes from the signer
    (``Signer.async_sign_raw``, so a PKCS#11 signer works the same), over the DER of the signed
    attributes as RFC 5652 5.4 prescribes. The assembly checks itself: re-assembling pyHanko's
    own digest and signature must reproduce pyHanko's bytes exactly.
    """

    _PLACEHOLDER = hashlib.sha256(b"juanzong: message digest placeholder").digest()

    def __init__(self, signer: Signer) -> None:
        made = asyncio.run(signer.async_sign(self._PLACEHOLDER, DIGEST, use_pades=True,
                                             signed_attr_settings=PdfCMSSignedAttributes()))
        data, infos = made["content"], made["content"]["signer_infos"]
        if len(infos) != 1 or infos[0]["unsigned_attrs"].dump():
            raise ValueError("CMS template: expected one signer and no unsigned attributes")
        info = infos[0]
        self._signer = signer
        self._attributes = info["signed_attrs"].dump()
        if self._attributes.count(self._PLACEHOLDER) != 1:
            raise ValueError("CMS template: message digest not found once in the signed attributes")
        self._content_type = made["content_type"].dump()
        self._data_head = b"".join(data[k].dump() for k in
                                   ("version", "digest_algorithms", "encap_content_info", "certificates", "crls"))
        self._info_head = b"".join(info[k].dump() for k in ("version", "sid", "digest_algorithm"))
        self._algorithm = info["signature_algorithm"].dump()
        if self._assemble(self._attributes, info["signature"].native) != made.dump():
            raise ValueError("CMS template: re-assembly does not reproduce pyHanko's container")
        self.size = len(made.dump())

    def sign(self, document_digest: bytes, tsa: TimestampAuthority | None = None) -> bytes:
        """The DER CMS for a document whose /ByteRange digest is ``document_digest``; with a
        TSA, the signature value's timestamp token as unsigned attribute (PAdES B-T)."""
        attributes = self._attributes.replace(self._PLACEHOLDER, document_digest)
        signed = b"\x31" + attributes[1:]  # signed as SET OF, stored as [0] IMPLICIT
        signature = asyncio.run(self._signer.async_sign_raw(signed, DIGEST))
        unsigned = b""
        if tsa is not None:
            token = tsa.stamp(signature)
            unsigned = _tlv(0xA1, cms.CMSAttribute({"type": "signature_time_stamp_token", "values": [token]}).dump())
        return self._assemble(attributes, signature, unsigned)

    def _assemble(self, attributes: bytes, signature: bytes, unsigned: bytes = b"") -> bytes:
        info = _tlv(0x30, self._info_head + attributes + self._algorithm + _tlv(0x04, signature) + unsigned)
        data = _tlv(0x30, self._data_head + _tlv(0x31, info))
        return _tlv(0x30, self._content_type + _tlv(0xA0, data))


def _tlv(tag: int, body: bytes) -> bytes:
    """One DER element: tag, definite length (short or long form), body."""
    if len(body) < 0x80:
        return bytes((tag, len(body))) + body
    length = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + body


@dataclass(frozen=True)
class SignatureSpec:
    """What goes into every signature made with one key pair, prepared once (``seal.Sealer``)."""

    cms: CmsTemplate
    field_name: str
    reason: str
    location: str
    appearance: Appearance
    tsa: TimestampAuthority | None = None

    @property
    def reserved(self) -> int:
        """Bytes of CMS the /Contents placeholder holds: ECDSA signatures vary by a few bytes,
        and a timestamp token (the TSA's certificates included) takes a few kilobytes."""
        return self.cms.size + 64 + (TOKEN_ROOM if self.tsa is not None else 0)


@dataclass
class Revision:
    """What an update changes besides the signature: base objects replaced (by number, with
    objects made in the scratch Pdf) and catalog entries set (``None`` removes one)."""

    objects: dict[int, pikepdf.Object] = field(default_factory=dict)
    catalog: dict[str, pikepdf.Object | None] = field(default_factory=dict)


Revise = Callable[[pikepdf.Pdf, pikepdf.Pdf], Revision]


def write_signed(base: Path, dest: Path, spec: SignatureSpec, signed_at: datetime,
                 revise: Revise | None = None) -> Path:
    """Write ``base`` unchanged to ``dest`` (via a temporary name) with one incremental update:
    ``revise``'s changes, a visible signature field and its PAdES B-B signature."""
    tmp = dest.with_name(f".{dest.name}.tmp")
    try:
        with _FileDigest(base) as source:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                source.copy_to(fd)
                update = _build_update(source, spec, signed_at, revise)
                digest = source.result()
                digest.update(update.data[:update.contents_start])
                digest.update(update.data[update.contents_end:])
                _write_all(fd, update.fill(spec.cms.sign(digest.digest(), spec.tsa)))
            finally:
                os.close(fd)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# --- the incremental update ------------------------------------------------------------------

@dataclass
class _Update:
    data: bytearray
    contents_start: int  # offset of "<" of /Contents in data
    contents_end: int  # offset just after its ">"

    def fill(self, cms: bytes) -> bytes:
        hexed = binascii.hexlify(cms).upper()
        room = self.contents_end - self.contents_start - 2
        if len(hexed) > room:
            raise ValueError(f"signature of {len(cms)} bytes does not fit the {room // 2} reserved")
        self.data[self.contents_start + 1:self.contents_start + 1 + len(hexed)] = hexed
        return bytes(self.data)


def _base_xref(source: _FileDigest) -> tuple[int, bool]:
    """Offset of the base's last xref section and whether it is a stream (else a table)."""
    fd = source.handle.fileno()
    tail = os.pread(fd, TAIL, max(0, source.size - TAIL))
    found = re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", tail)
    if found is None:
        raise ValueError(f"{source.handle.name}: no startxref at the end of the file")
    offset = int(found.group(1))
    return offset, not os.pread(fd, 4, offset).startswith(b"xref")


def _build_update(source: _FileDigest, spec: SignatureSpec, signed_at: datetime, revise: Revise | None) -> _Update:
    """Read the base (never modify it: qpdf would load its whole object table to hand out a new
    number) and lay out the update's objects around a scratch Pdf of new ones."""
    prev, xref_stream = _base_xref(source)
    scratch = pikepdf.new()
    with pikepdf.open(source.handle) as base:
        revision = revise(base, scratch) if revise else Revision()
        page = _first_page(base)
        if page.obj.objgen[0] in revision.objects:
            raise ValueError("a revision may not replace page 1: the seal's widget goes there")
        page_ref, sig = scratch.make_indirect(Dictionary()), scratch.make_indirect(Dictionary())
        rect, appearance = spec.appearance(scratch, page, signed_at)
        widget = scratch.make_indirect(Dictionary(
            Type=Name.Annot, Subtype=Name.Widget, FT=Name.Sig, T=String(spec.field_name), F=FIELD_FLAGS,
            P=page_ref, Rect=Array(list(rect)), V=sig, AP=Dictionary(N=appearance)))
        aliases = {page_ref.objgen: page.obj.objgen[0]}
        aliases.update({obj.objgen: number for number, obj in revision.objects.items()})
        out = _Objects(base, int(base.trailer.Size), aliases)
        sig_number = out.number(sig, written_by_hand=True)
        objects = {number: out.indirect(obj) for number, obj in revision.objects.items()}
        objects[page.obj.objgen[0]] = out.indirect(page.obj, {"/Annots": [*page.obj.get("/Annots", ()), widget]})
        objects[base.Root.objgen[0]] = out.indirect(
            base.Root, {**revision.catalog, "/AcroForm": _acroform(base.Root, widget)})
        objects.update(out.drain())
        trailer = _trailer_entries(base, signed_at, spec)
    return _assemble(objects, sig_number, _sig_dict(spec, signed_at), spec.reserved, source.size,
                     (prev, xref_stream), trailer)


def _first_page(pdf: pikepdf.Pdf) -> pikepdf.Page:
    """Page 1 by walking down /Kids (``Pdf.pages`` would load every page of the tree)."""
    node = pdf.Root.Pages
    while node.get("/Type") != "/Page" and len(node.get("/Kids", ())):
        node = node.Kids[0]
    return pikepdf.Page(node)


def _acroform(root: pikepdf.Object, widget: pikepdf.Object) -> dict:
    """The catalog's /AcroForm with the signature field added and SigFlags SignaturesExist|AppendOnly."""
    form = dict(root.AcroForm.items()) if "/AcroForm" in root else {}
    return {**form, "/Fields": [*form.get("/Fields", ()), widget], "/SigFlags": 3}


class _Objects:
    """Serialises objects of the update: those of the written file keep their numbers, new ones
    (from the scratch Pdf) are numbered from the file's /Size on as they are first referenced."""

    def __init__(self, base: pikepdf.Pdf, first_new: int, aliases: dict[tuple[int, int], int]) -> None:
        self._base = base
        self._next = first_new
        self._numbers = dict(aliases)
        self._pending: list[pikepdf.Object] = []
        self._by_hand: set[tuple[int, int]] = set()

    def number(self, obj: pikepdf.Object, written_by_hand: bool = False) -> int:
        if obj.is_owned_by(self._base):
            return obj.objgen[0]
        key = obj.objgen
        if key not in self._numbers:
            self._numbers[key], self._next = self._next, self._next + 1
            (self._by_hand.add(key) if written_by_hand else self._pending.append(obj))
        return self._numbers[key]

    def drain(self) -> dict[int, bytes]:
        """Every new object referenced so far, and those they reference, serialised."""
        written = {}
        while self._pending:
            obj = self._pending.pop()
            written[self._numbers[obj.objgen]] = self.indirect(obj)
        return written

    def indirect(self, obj: pikepdf.Object, changes: dict | None = None) -> bytes:
        head = b"%d 0 obj\n" % self.number(obj)
        if isinstance(obj, pikepdf.Stream):
            data, entries = obj.read_raw_bytes(), dict(obj.stream_dict.items())
            if "/Filter" not in entries and len(data) > COMPRESS_OVER:
                data, entries["/Filter"] = zlib.compress(data, COMPRESS_LEVEL), Name.FlateDecode
            entries["/Length"] = len(data)
            return head + self.value(entries) + b"\nstream\n" + data + b"\nendstream\nendobj\n"
        entries = {key: value for key, value in {**dict(obj.items()), **(changes or {})}.items() if value is not None}
        return head + self.value(entries) + b"\nendobj\n"

    def value(self, obj) -> bytes:
        if isinstance(obj, bool):
            return b"true" if obj else b"false"
        if isinstance(obj, int):
            return b"%d" % obj
        if isinstance(obj, Decimal | float):
            return format(Decimal(obj), "f").encode()
        if obj is None:
            return b"null"
        if isinstance(obj, dict):
            return b"<<" + b"".join(Name(k).unparse() + b" " + self.value(v) + b" " for k, v in obj.items()) + b">>"
        if isinstance(obj, list | tuple):
            return b"[" + b" ".join(map(self.value, obj)) + b"]"
        if obj.is_indirect:
            return b"%d 0 R" % self.number(obj)
        if isinstance(obj, pikepdf.Dictionary):
            return self.value(dict(obj.items()))
        if isinstance(obj, pikepdf.Array):
            return self.value(list(obj))
        return obj.unparse()  # names, strings


def _sig_dict(spec: SignatureSpec, signed_at: datetime) -> tuple[bytes, bytes, bytes]:
    """The signature dictionary in three parts around the /ByteRange numbers and /Contents."""
    head = b" ".join([
        b"<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter", Name(SigSeedSubFilter.PADES.value).unparse(),
        b"/M", String(str(pdf_date(signed_at))).unparse(),
        b"/Reason", String(spec.reason).unparse(), b"/Location", String(spec.location).unparse(),
        b"/ByteRange ["])
    return head, b"] /Contents ", b" >>"


def _trailer_entries(base: pikepdf.Pdf, signed_at: datetime, spec: SignatureSpec) -> dict[str, bytes]:
    """/Root, /Info and a new second /ID (the first stays: it names the document, not the revision)."""
    entries = {"/Root": base.Root.unparse()}
    if "/Info" in base.trailer:
        entries["/Info"] = base.trailer.Info.unparse()
    old = base.trailer.get("/ID")
    first = bytes(old[0]) if old is not None and len(old) == 2 else b""
    second = hashlib.md5(first + signed_at.isoformat().encode() + spec.field_name.encode()
                         + os.urandom(16)).digest()
    entries["/ID"] = Array([String(first or second), String(second)]).unparse()
    return entries


def _assemble(objects: dict[int, bytes], sig_number: int, sig_parts: tuple[bytes, bytes, bytes], reserved: int,
              base_size: int, base_xref: tuple[int, bool], trailer: dict[str, bytes]) -> _Update:
    """Lay out objects, signature dictionary and xref; /ByteRange is filled in, /Contents reserved."""
    data = bytearray(b"\n")
    offsets: dict[int, int] = {}
    for number in sorted(objects):
        offsets[number] = base_size + len(data)
        data += objects[number]
    head, middle, end = sig_parts
    offsets[sig_number] = base_size + len(data)
    data += b"%d 0 obj\n" % sig_number + head
    byte_range_at = len(data)
    data += b" " * BYTE_RANGE_WIDTH + middle
    contents_start = len(data)
    data += b"<" + b"0" * (2 * reserved) + b">"
    contents_end = len(data)
    data += end + b"\nendobj\n"
    data += _xref_section(offsets, base_size + len(data), *base_xref, trailer)
    total = base_size + len(data)
    numbers = f"0 {base_size + contents_start} {base_size + contents_end} {total - base_size - contents_end}"
    data[byte_range_at:byte_range_at + BYTE_RANGE_WIDTH] = numbers.encode().ljust(BYTE_RANGE_WIDTH)
    return _Update(data=data, contents_start=contents_start, contents_end=contents_end)


def _xref_section(offsets: dict[int, int], at: int, prev: int, xref_stream: bool,
                  trailer: dict[str, bytes]) -> bytes:
    """An xref table or stream for ``offsets`` starting at file offset ``at``, then the trailer."""
    entries = dict(offsets)
    if xref_stream:
        number = max(entries) + 1
        entries[number] = at
    size = max(entries) + 1
    runs = _runs(sorted(entries))
    extra = b"".join(b" " + key.encode() + b" " + value for key, value in trailer.items())
    if not xref_stream:
        lines = [b"xref\n"]
        for first, count in runs:
            lines.append(b"%d %d\n" % (first, count))
            lines += [b"%010d 00000 n\r\n" % entries[n] for n in range(first, first + count)]
        return (b"".join(lines) + b"trailer\n<< /Size %d /Prev %d" % (size, prev) + extra
                + b" >>\nstartxref\n%d\n%%%%EOF\n" % at)
    width = max(4, (max(entries.values()).bit_length() + 7) // 8)
    rows = b"".join(b"\x01" + entries[n].to_bytes(width, "big") + b"\x00\x00"
                    for first, count in runs for n in range(first, first + count))
    index = b" ".join(b"%d %d" % run for run in runs)
    return (b"%d 0 obj\n<< /Type /XRef /Size %d /Prev %d /Index [%s] /W [1 %d 2] /Length %d"
            % (number, size, prev, index, width, len(rows)) + extra
            + b" >>\nstream\n" + rows + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % at)


def _runs(numbers: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for n in numbers:
        if runs and runs[-1][0] + runs[-1][1] == n:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((n, 1))
    return runs
