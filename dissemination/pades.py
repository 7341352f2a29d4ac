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
further updates laid the same way (``pades_lta``): the running digest goes on over them, so no
byte of the copy is read or hashed twice (the layout itself is ``pdf_update``).

pyHanko's validator checks the result (``seal.validate_sealed``).
"""

from __future__ import annotations

import asyncio
import hashlib
import mmap
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import pikepdf
from asn1crypto import cms
from pikepdf import Array, Dictionary, Name, String
from pyhanko.pdf_utils.generic import pdf_date
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.signers import Signer
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes

from archive.trusted_time import TimestampAuthority
from dissemination.pdf_update import FileState, Objects, Placeholder, Update, lay_out

DIGEST = "sha256"
TAIL = 2048  # bytes read from the end of the base to find its startxref
TOKEN_ROOM = 12288  # bytes reserved for a signature timestamp token
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


class _BackgroundCopy:
    """``_FileDigest.copy_to`` on a worker thread (``sendfile`` releases the GIL): with a TSA
    the copy runs while the caller waits for its answers, which need the base's digest first
    and so cannot overlap the hashing. ``join`` before ``fd`` is closed."""

    def __init__(self, source: _FileDigest, fd: int) -> None:
        self._error: BaseException | None = None
        self._worker = threading.Thread(target=self._copy, args=(source, fd), name="pades-copy", daemon=True)
        self._worker.start()

    def _copy(self, source: _FileDigest, fd: int) -> None:
        try:
            source.copy_to(fd)
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc

    def join(self) -> None:
        self._worker.join()

    def result(self) -> None:
        self.join()
        if self._error is not None:
            raise self._error


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
Extend = Callable[[FileState, Update, "hashlib._Hash"], bytes]
"""Further updates after the signed one (``pades_lta``): given the file as it then stands, the
signed update and the SHA-256 of every byte so far (to go on with), their bytes."""


def write_signed(base: Path, dest: Path, spec: SignatureSpec, signed_at: datetime,
                 revise: Revise | None = None, extend: Extend | None = None) -> Path:
    """Write ``base`` unchanged to ``dest`` (via a temporary name) with one incremental update:
    ``revise``'s changes, a visible signature field and its PAdES signature; then what ``extend``
    adds (B-LTA)."""
    tmp = dest.with_name(f".{dest.name}.tmp")
    try:
        with _FileDigest(base) as source:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            copy: _BackgroundCopy | None = None
            try:
                if spec.tsa is None:
                    source.copy_to(fd)  # while the worker hashes
                update, state = _build_update(source, spec, signed_at, revise)
                running = source.result()
                if spec.tsa is not None:
                    copy = _BackgroundCopy(source, fd)  # while the TSA answers
                running.update(update.data[:update.contents_start])
                signed = running.copy()
                signed.update(update.data[update.contents_end:])
                data = update.fill(spec.cms.sign(signed.digest(), spec.tsa))
                if extend is not None:
                    running.update(data[update.contents_start:])
                    data += extend(state.after(update), update, running)
                if copy is not None:
                    copy.result()
                _write_all(fd, data)
            finally:
                if copy is not None:
                    copy.join()  # never close fd under a running copy
                os.close(fd)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# --- the signed update -----------------------------------------------------------------------

def _base_xref(source: _FileDigest) -> tuple[int, bool]:
    """Offset of the base's last xref section and whether it is a stream (else a table)."""
    fd = source.handle.fileno()
    tail = os.pread(fd, TAIL, max(0, source.size - TAIL))
    found = re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", tail)
    if found is None:
        raise ValueError(f"{source.handle.name}: no startxref at the end of the file")
    offset = int(found.group(1))
    return offset, not os.pread(fd, 4, offset).startswith(b"xref")


def _build_update(source: _FileDigest, spec: SignatureSpec, signed_at: datetime,
                  revise: Revise | None) -> tuple[Update, FileState]:
    """Read the base (never modify it: qpdf would load its whole object table to hand out a new
    number) and lay out the update's objects around a scratch Pdf of new ones; also the base's
    state, from which a further update goes on."""
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
        out = Objects(base, int(base.trailer.Size), aliases)
        sig_number = out.number(sig, written_by_hand=True)
        objects = {number: out.indirect(obj) for number, obj in revision.objects.items()}
        state = _base_state(base, out, revision, page, widget, (source.size, prev, xref_stream))
        objects[state.page] = state.page_object()
        objects[state.root] = state.catalog_object()
        objects.update(out.drain())
        state = replace(state, size=out.next)
    placeholder = Placeholder(sig_number, *_sig_dict(spec, signed_at), spec.reserved)
    return lay_out(objects, state, placeholder), state


def _base_state(base: pikepdf.Pdf, out: Objects, revision: Revision, page: pikepdf.Page, widget: pikepdf.Object,
                where: tuple[int, int, bool]) -> FileState:
    """The base with ``revision``'s catalog changes and the seal's field (SigFlags
    SignaturesExist|AppendOnly), serialised: the signed update writes it, later ones extend it."""
    root = base.Root
    form = dict(root.AcroForm.items()) if "/AcroForm" in root else {}
    extensions = root.get("/Extensions")
    old_id = base.trailer.get("/ID")
    length, prev, xref_stream = where
    return FileState(
        length=length, prev=prev, size=int(base.trailer.Size), xref_stream=xref_stream, root=root.objgen[0],
        catalog=out.entries(root, {**revision.catalog, "/AcroForm": None, "/Extensions": None}),
        acroform={k: out.value(v) for k, v in form.items() if k not in ("/Fields", "/SigFlags")},
        fields=tuple(out.value(f) for f in [*form.get("/Fields", ()), widget]),
        extensions=None if extensions is None else out.entries(extensions),
        page=page.obj.objgen[0], page_entries=out.entries(page.obj, {"/Annots": None}),
        annots=tuple(out.value(a) for a in [*page.obj.get("/Annots", ()), widget]),
        trailer={"/Root": root.unparse(), **({"/Info": base.trailer.Info.unparse()} if "/Info" in base.trailer else {})},
        first_id=bytes(old_id[0]) if old_id is not None and len(old_id) == 2 else b"",
        version=max(_version(base.pdf_version), _version(str(root.get("/Version", "/1.0"))[1:])))


def _version(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    try:
        return int(major), int(minor or 0)
    except ValueError:
        return (1, 0)


def _first_page(pdf: pikepdf.Pdf) -> pikepdf.Page:
    """Page 1 by walking down /Kids (``Pdf.pages`` would load every page of the tree)."""
    node = pdf.Root.Pages
    while node.get("/Type") != "/Page" and len(node.get("/Kids", ())):
        node = node.Kids[0]
    return pikepdf.Page(node)


def _sig_dict(spec: SignatureSpec, signed_at: datetime) -> tuple[bytes, bytes, bytes]:
    """The signature dictionary in three parts around the /ByteRange numbers and /Contents."""
    head = b" ".join([
        b"<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter", Name(SigSeedSubFilter.PADES.value).unparse(),
        b"/M", String(str(pdf_date(signed_at))).unparse(),
        b"/Reason", String(spec.reason).unparse(), b"/Location", String(spec.location).unparse(),
        b"/ByteRange ["])
    return head, b"] /Contents ", b" >>"
