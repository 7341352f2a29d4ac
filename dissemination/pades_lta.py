"""PAdES B-LT and B-LTA laid by hand: after the signed update of a copy (``pades``), a DSS
update with the validation data, then a document timestamp whose /ByteRange covers the whole file.

Why not pyHanko's ``add_validation_info`` and ``PdfTimeStamper`` (used until issue 15's
benchmark showed 1.5-1.7 s per 100-page copy, against 0.1-0.3 s for a bare overlay): each
parses the 50 MB file again, and the document timestamp reads and hashes all of it once more,
and the DSS validated the same chains for every copy. Here:

- the validation data -- the seal's chain, the TSA's chain (each path from its root, as
  pyHanko embeds them), the CRLs and OCSP responses of the validation context -- are gathered
  once per sealer by pyHanko's certificate validator (the TSA's once per TSA certificate,
  from the first token), which also refuses a seal certificate revoked or not issued under
  a trusted root before any copy is made;
- the DSS update (the DER as streams, /VRI keyed as pyHanko keys it, the catalog with /DSS and
  /Version 1.7) and the document timestamp's update (an invisible field on page 1, the
  catalog with the ESIC extension, /Type /DocTimeStamp with /SubFilter /ETSI.RFC3161) are laid
  out like the signed one (``pdf_update``), the same structure pyHanko writes;
- the document timestamp's digest continues the running SHA-256 of the copy: the base was
  hashed once while the kernel copied it, so only the few kilobytes of the three updates are
  hashed here, and the TSA is asked once.

What cannot overlap: the signature timestamp is over the signature value, which needs the
digest of the whole base; the document timestamp is over everything before its /Contents,
the signature timestamp included. So each copy waits for two TSA round trips in a row, after
its hashing, never during it.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from dataclasses import dataclass, replace

from asn1crypto import x509 as asn1_x509
from pyhanko.sign.general import extract_certificate_info
from pyhanko.sign.signers import Signer
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import PathError, ValidationError

from archive.trusted_time import TimestampAuthority, signature_timestamp
from dissemination.pades import TOKEN_ROOM
from dissemination.pdf_update import (
    FileState, Placeholder, Update, array_bytes, dict_bytes, indirect, lay_out, raw_stream, ref,
)
from schemas.errors import ConfigurationError

TIMESTAMP_FIELD = "JuanzongDocTimestamp"
HIDDEN_WIDGET_FLAGS = 132  # Print | Locked, as pyHanko sets them
ESIC = dict_bytes({"/Type": b"/DeveloperExtensions", "/BaseVersion": b"/1.7", "/ExtensionLevel": b"1"})
DOC_TIMESTAMP = (b"<< /Type /DocTimeStamp /Filter /Adobe.PPKLite /SubFilter /ETSI.RFC3161 /ByteRange [",
                 b"] /Contents ", b" >>")


@dataclass(frozen=True)
class ValidationData:
    """What goes into a DSS, DER-encoded: certificates in embedding order, CRLs, OCSP responses."""

    certs: tuple[bytes, ...] = ()
    crls: tuple[bytes, ...] = ()
    ocsps: tuple[bytes, ...] = ()

    def plus_certs(self, certs: list[asn1_x509.Certificate]) -> ValidationData:
        """These certificates added, each once."""
        ders = dict.fromkeys([*self.certs, *(c.dump() for c in certs)])
        return replace(self, certs=tuple(ders))


class LtaExtender:
    """Extends the copies one signer seals to B-LTA (``pades.Extend``); prepared once, safe to
    share between threads."""

    def __init__(self, signer: Signer, tsa: TimestampAuthority, context: ValidationContext) -> None:
        self._tsa, self._context = tsa, context
        seal_path = self._path(signer.signing_cert, list(signer.cert_registry))
        self._seal = ValidationData(crls=tuple(c.dump() for c in context.crls),
                                    ocsps=tuple(o.dump() for o in context.ocsps)).plus_certs(seal_path)
        self._with_tsa: dict[bytes, ValidationData] = {}
        self._lock = threading.Lock()

    def __call__(self, state: FileState, signed: Update, running) -> bytes:
        """The DSS and document-timestamp updates after ``signed``; ``running`` is the SHA-256
        of every byte up to the end of ``signed`` and goes on over the new ones."""
        contents = signed.contents()
        dss, state = _dss_update(state, self._data_for(contents), contents)
        stamp = _timestamp_update(state.after(dss))
        running.update(dss.data)
        running.update(stamp.data[:stamp.contents_start])
        running.update(stamp.data[stamp.contents_end:])
        token = self._tsa.stamp_digest(running.digest())
        return bytes(dss.data) + stamp.fill(token.dump())

    def _data_for(self, contents: bytes) -> ValidationData:
        """The seal's validation data plus the chain of the TSA that timestamped this signature."""
        token = signature_timestamp(contents)  # the padding after the DER is ignored
        if token is None:
            raise ValueError("B-LTA needs a signature timestamp in the seal's CMS")
        certs = extract_certificate_info(token["content"])
        key = certs.signer_cert.dump()
        with self._lock:
            if key not in self._with_tsa:
                self._with_tsa[key] = self._seal.plus_certs(self._path(certs.signer_cert, list(certs.other_certs)))
            return self._with_tsa[key]

    def _path(self, cert: asn1_x509.Certificate, others: list[asn1_x509.Certificate]) -> list[asn1_x509.Certificate]:
        """The certificate's path from a trusted root, checked now (revocation from the
        context's files); E474 names the certificate when there is none."""
        validator = CertificateValidator(cert, intermediate_certs=others, validation_context=self._context)
        try:
            return list(asyncio.run(validator.async_validate_usage(key_usage=set())))
        except (PathError, ValidationError) as exc:
            raise ConfigurationError("E474", cert.subject.human_friendly, reason=str(exc) or type(exc).__name__) \
                from exc


def vri_key(contents: bytes) -> bytes:
    """The /VRI key of a signature as pyHanko computes it: SHA-1 of the hex of /Contents (padding included)."""
    return b"/" + hashlib.sha1(contents.hex().encode("ascii")).hexdigest().upper().encode()


def _dss_update(state: FileState, data: ValidationData, contents: bytes) -> tuple[Update, FileState]:
    """The DSS (certificates, CRLs, OCSP responses as streams; a /VRI entry for the seal) and
    the catalog pointing at it, raised to PDF 1.7 as pyHanko does; and the state it was laid on."""
    objects: dict[int, bytes] = {}
    number = state.size

    def streams(ders: tuple[bytes, ...]) -> tuple[bytes, ...]:
        nonlocal number
        refs = []
        for der in ders:
            objects[number] = raw_stream(number, der)
            refs.append(ref(number))
            number += 1
        return tuple(refs)

    kinds = {"/Certs": streams(data.certs), "/CRLs": streams(data.crls), "/OCSPs": streams(data.ocsps)}
    vri_number, dss_number = number, number + 1
    vri = {"/Cert": kinds["/Certs"], "/CRL": kinds["/CRLs"], "/OCSP": kinds["/OCSPs"]}
    objects[vri_number] = indirect(vri_number, dict_bytes(
        {"/Type": b"/VRI", **{k: array_bytes(v) for k, v in vri.items() if v}}))
    dss = {k: array_bytes(v) for k, v in kinds.items() if v or k == "/Certs"}
    dss["/VRI"] = dict_bytes({vri_key(contents).decode(): ref(vri_number)})
    objects[dss_number] = indirect(dss_number, dict_bytes(dss))
    catalog = {**state.catalog, "/DSS": ref(dss_number)}
    if state.version < (1, 7):
        catalog["/Version"] = b"/1.7"
    state = replace(state, catalog=catalog, size=dss_number + 1, version=max(state.version, (1, 7)))
    objects[state.root] = state.catalog_object()
    return lay_out(objects, state), state


def _timestamp_update(state: FileState) -> Update:
    """An invisible signature field on page 1 whose value is a document timestamp, /Contents reserved."""
    widget, sig = state.size, state.size + 1
    extensions = dict(state.extensions or {})
    if state.version < (2, 0):
        extensions.setdefault("/ESIC", ESIC)
    state = replace(state, size=sig + 1, extensions=extensions or state.extensions).with_widget(widget)
    objects = {
        state.root: state.catalog_object(),
        state.page: state.page_object(),
        widget: indirect(widget, dict_bytes({
            "/Type": b"/Annot", "/Subtype": b"/Widget", "/FT": b"/Sig", "/T": b"(" + TIMESTAMP_FIELD.encode() + b")",
            "/F": b"%d" % HIDDEN_WIDGET_FLAGS, "/Rect": b"[0 0 0 0]", "/P": ref(state.page), "/V": ref(sig)})),
    }
    return lay_out(objects, state, Placeholder(sig, *DOC_TIMESTAMP, TOKEN_ROOM))

