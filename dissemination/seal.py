"""The court's seal on a dissemination copy: a PAdES signature with a visible seal, B-LTA
when a TSA is configured (signature timestamp, DSS with the chain and the CRL, document
timestamp), else B-B.

Each copy is signed once with the dissemination certificate (not the archive's AIP signing
key), with the signing time in the signature dictionary (/M, as PAdES requires) and a visible
seal on page 1: a red round seal drawn with reportlab, showing the certificate's common name,
with the signing time printed under it. Any PDF reader can then tell whether the file changed
after it was issued. ``Sealer`` prepares what is the same for every copy (key, drawing,
reserved signature size) once; ``pades.write_signed`` appends the signed update to a copy;
pyHanko's validator judges the result (``validate_sealed``).

Keys: the seal's certificate is issued by the archive root (``archive.pki``; production:
the court's CA), so a reader who trusts the root alone can tell the court's seal from a
look-alike; ``ensure_dissemination_keys`` still makes a lone self-signed pair for tools and
tests. Keys are read from the paths given, never copied into storage or printed.

Long-term validation (``LtaContext``): the signature's CMS gets a timestamp token over its
value inside the fast update (``pades``), then two more updates laid the same way
(``pades_lta``): the DSS (the seal's chain, the CRLs, the TSA's chain) and a document
timestamp over the whole file, whose digest continues the copy's running hash.

Signing is not byte-reproducible: the signing time comes from the clock and ECDSA
signatures are randomised. Issued DIPs are therefore kept as issued; regenerating one
reproduces the unsigned bytes only.
"""

from __future__ import annotations

import io
import math
import os
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
import pikepdf
from pydantic import BaseModel, ConfigDict
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from asn1crypto import crl as asn1_crl
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.status import DocumentTimestampStatus, PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from reportlab.lib.colors import Color
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

from archive.trusted_time import TimestampAuthority
from dissemination import pades
from dissemination.pades_lta import LtaExtender
from dissemination.watermark import FONT_NAME, LATIN_FONT_NAME, _cjk_glyphs
from schemas.errors import ConfigurationError

FIELD_NAME = "JuanzongSeal"
SEAL_SIZE = 110.0
SEAL_MARGIN = 36.0
SEAL_RED = Color(0.8, 0.05, 0.05)
SEAL_LABEL = "电子阅卷专用章"
TIME_BAND = 12.0  # points under the seal for the signing time
TIME_SIZE = 6.5
TIME_FORMAT = "%Y-%m-%d %H:%M:%S %z"
TIME_GLYPHS = "0123456789-:+ "  # every character TIME_FORMAT can print


class SealStatus(BaseModel):
    """What the validator says about one sealed copy."""

    model_config = ConfigDict(frozen=True)

    intact: bool  # the signed bytes are unchanged and, with the document timestamp's updates, cover the whole file
    valid: bool  # intact, cryptographically valid, trusted, and made by the given certificate
    signer: str
    detail: str
    trusted: bool = False  # the seal's certificate chains to a trusted root
    timestamped: bool = False  # a valid signature timestamp (trusted time)
    level: str = "B-B"  # PAdES level: B-B, B-T, B-LT (DSS) or B-LTA (then a document timestamp over the whole file)


class LtaContext(BaseModel):
    """What B-T/B-LTA sealing needs besides the key: the TSA, and the roots and CRLs whose data go into the DSS."""

    model_config = ConfigDict(frozen=True)

    tsa_url: str
    roots: tuple[Path, ...] = ()  # the archive root and the TSA's root
    crls: tuple[Path, ...] = ()
    chain: tuple[Path, ...] = ()  # the seal certificate's issuers


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)


def _self_signed(key: ec.EllipticCurvePrivateKey, common_name: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    usage = x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=False,
                          crl_sign=False, encipher_only=False, decipher_only=False)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .sign(key, hashes.SHA256()))


def ensure_dissemination_keys(key_path: Path, cert_path: Path, common_name: str) -> tuple[Path, Path]:
    """Make a self-signed development key pair unless both files exist; refuse a readable key."""
    if key_path.exists() and cert_path.exists():
        if key_path.stat().st_mode & 0o077:
            raise ConfigurationError("E407", str(key_path), reason="readable by group or others; chmod 600")
        return key_path, cert_path
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    _write_private(key_path, pem)
    cert_path.write_bytes(_self_signed(key, common_name).public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def _common_name(cert_path: Path) -> str:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


class SealDrawing(BaseModel):
    """The seal as a one-page PDF, and the name of the font resource in it that prints the time."""

    model_config = ConfigDict(frozen=True)

    pdf: bytes
    time_font: str


@lru_cache(maxsize=4)
def seal_image(common_name: str) -> SealDrawing:
    """The round red seal: name around the rim, a star, the label below; the Latin font subset
    also carries the digits of a signing time (drawn in an unused form), which each copy's
    appearance prints under the seal without running reportlab again."""
    _cjk_glyphs()
    buffer = io.BytesIO()
    size = SEAL_SIZE
    canvas = Canvas(buffer, pagesize=(size, size), invariant=1, initialFontName=FONT_NAME)
    canvas.beginForm("time-glyphs")
    canvas.setFont(LATIN_FONT_NAME, TIME_SIZE)
    canvas.drawString(0, 0, TIME_GLYPHS)
    canvas.endForm()
    canvas.setStrokeColor(SEAL_RED)
    canvas.setFillColor(SEAL_RED)
    canvas.setLineWidth(2.5)
    canvas.circle(size / 2, size / 2, size / 2 - 3, stroke=1, fill=0)
    _draw_star(canvas, size / 2, size / 2, size * 0.13)
    _draw_rim_text(canvas, common_name, size)
    canvas.setFont(FONT_NAME, 8)
    canvas.drawCentredString(size / 2, size * 0.24, SEAL_LABEL)
    time_font = pdfmetrics.getFont(LATIN_FONT_NAME).getSubsetInternalName(0, canvas._doc)
    canvas.showPage()
    canvas.save()
    return SealDrawing(pdf=buffer.getvalue(), time_font=time_font)


def _draw_star(canvas: Canvas, cx: float, cy: float, radius: float) -> None:
    path = canvas.beginPath()
    for i in range(10):
        r = radius if i % 2 == 0 else radius * 0.4
        angle = math.pi / 2 + i * math.pi / 5
        point = (cx + r * math.cos(angle), cy + r * math.sin(angle))
        path.moveTo(*point) if i == 0 else path.lineTo(*point)
    path.close()
    canvas.drawPath(path, stroke=0, fill=1)


def _draw_rim_text(canvas: Canvas, text: str, size: float) -> None:
    chars = [c for c in text if ord(c) in _cjk_glyphs()] or list("人民法院")
    span = min(240.0, 22.0 * len(chars))
    font_size = min(11.0, 200.0 / max(len(chars), 1))
    for i, char in enumerate(chars):
        angle = 90 + span / 2 - (span * (i + 0.5) / len(chars))
        canvas.saveState()
        canvas.translate(size / 2, size / 2)
        canvas.rotate(angle - 90)
        canvas.setFont(FONT_NAME, font_size)
        canvas.drawCentredString(0, size / 2 - 8 - font_size, char)
        canvas.restoreState()


@lru_cache(maxsize=4)
def _load_signer(key_path: str, cert_path: str, key_mtime: int, cert_mtime: int,
                 chain: tuple[str, ...] = ()) -> signers.SimpleSigner:
    """Parse the key pair once per process (mtimes in the cache key: a replaced file is reloaded)."""
    signer = signers.SimpleSigner.load(key_path, cert_path, ca_chain_files=chain or None)
    if signer is None:
        raise ConfigurationError("E407", key_path, reason="cannot be loaded as a PEM key with its certificate")
    return signer


def _seal_rect(page: pikepdf.Page) -> pades.Rect:
    """Bottom right of page 1, above the trace pattern: the seal and the time band under it."""
    box = page.mediabox
    x1 = float(box[2]) - SEAL_MARGIN - SEAL_SIZE
    y1 = float(box[1]) + SEAL_MARGIN + 20 - TIME_BAND
    return x1, y1, x1 + SEAL_SIZE, y1 + SEAL_SIZE + TIME_BAND


class Sealer:
    """Seals copies with one key pair: signer, drawing and signature size are prepared once."""

    def __init__(self, *, key_path: Path, cert_path: Path, reason: str, location: str,
                 chain: Path | None = None, lta: LtaContext | None = None) -> None:
        if not key_path.is_file() or not cert_path.is_file():
            raise ConfigurationError("E408", str(key_path if not key_path.is_file() else cert_path))
        signer = _load_signer(str(key_path), str(cert_path), key_path.stat().st_mtime_ns,
                              cert_path.stat().st_mtime_ns, (str(chain),) if chain else ())
        self._drawing = seal_image(_common_name(cert_path))
        self._drawing_pdf = pikepdf.open(io.BytesIO(self._drawing.pdf))
        self._seal_form = self._drawing_pdf.make_indirect(self._drawing_pdf.pages[0].as_form_xobject())
        tsa = TimestampAuthority(lta.tsa_url) if lta else None
        self._extend = LtaExtender(signer, tsa, lta_validation_context(lta)) if lta and tsa else None
        self.spec = pades.SignatureSpec(cms=_cms_template(signer), field_name=FIELD_NAME, reason=reason,
                                        location=location, appearance=self._appearance, tsa=tsa)

    def write(self, base: Path, dest: Path, revise: pades.Revise | None = None) -> Path:
        """Write ``base`` to ``dest`` sealed now, with ``revise``'s changes in the sealed update
        (and, with a TSA, the DSS and document timestamp updates of B-LTA after it)."""
        signed_at = datetime.now().astimezone().replace(microsecond=0)
        return pades.write_signed(base, dest, self.spec, signed_at, revise, self._extend)

    def _appearance(self, pdf: pikepdf.Pdf, page: pikepdf.Page, signed_at: datetime):
        """The widget's normal appearance: the seal drawing, the signing time centred under it."""
        seal = pdf.copy_foreign(self._seal_form)
        text = signed_at.strftime(TIME_FORMAT)
        size = min(TIME_SIZE, TIME_SIZE * SEAL_SIZE / pdfmetrics.stringWidth(text, LATIN_FONT_NAME, TIME_SIZE))
        x = (SEAL_SIZE - pdfmetrics.stringWidth(text, LATIN_FONT_NAME, size)) / 2
        red = " ".join(f"{c:.3g}" for c in SEAL_RED.rgb())
        content = (f"q 1 0 0 1 0 {TIME_BAND:g} cm /Seal Do Q\n"
                   f"BT {red} rg /Time {size:.2f} Tf {x:.2f} 3 Td ({text}) Tj ET\n").encode()
        resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Seal=seal),
                                       Font=pikepdf.Dictionary(Time=seal.Resources.Font[self._drawing.time_font]))
        form = pdf.make_stream(content, Type=pikepdf.Name.XObject, Subtype=pikepdf.Name.Form,
                               BBox=[0, 0, SEAL_SIZE, SEAL_SIZE + TIME_BAND], Resources=resources)
        return _seal_rect(page), form


@lru_cache(maxsize=4)
def _cms_template(signer: signers.Signer) -> pades.CmsTemplate:
    return pades.CmsTemplate(signer)


def seal_pdf(src: Path, dest: Path, *, key_path: Path, cert_path: Path, reason: str, location: str) -> Path:
    """Write ``src`` to ``dest`` with a PAdES B-B signature and a visible seal on page 1 appended
    as an incremental update (``src``'s bytes are the first revision, unchanged)."""
    if src.resolve() == dest.resolve():
        raise ValueError(f"{src}: refusing to seal a file in place")
    return Sealer(key_path=key_path, cert_path=cert_path, reason=reason, location=location).write(src, dest)


def lta_validation_context(lta: LtaContext) -> ValidationContext:
    """Roots and CRLs from files only: nothing is fetched at run time."""
    roots = [load_cert_from_pemder(str(p)) for p in lta.roots if p.is_file()]
    crls = [asn1_crl.CertificateList.load(x509.load_pem_x509_crl(p.read_bytes()).public_bytes(
        serialization.Encoding.DER)) for p in lta.crls if p.is_file()]
    others = [load_cert_from_pemder(str(p)) for p in lta.chain if p.is_file()]
    return ValidationContext(trust_roots=roots, crls=crls, other_certs=others, allow_fetching=False,
                             revocation_mode="soft-fail")


def _status_detail(status: PdfSignatureStatus) -> str:
    return (f"intact={status.intact} valid={status.valid} trusted={status.trusted} "
            f"coverage={status.coverage.name} signing_time={status.signer_reported_dt}")


def validate_sealed(pdf: Path, cert_path: Path, *, roots: list[Path] | None = None,
                    tsa_roots: list[Path] | None = None) -> SealStatus:
    """Ask pyHanko whether ``pdf`` is intact and sealed by the certificate at ``cert_path``,
    trusting ``roots`` (default: that certificate itself) and, for timestamps, ``tsa_roots``."""
    expected = x509.load_pem_x509_certificate(cert_path.read_bytes())
    context = ValidationContext(trust_roots=[load_cert_from_pemder(str(p)) for p in roots or [cert_path]],
                                allow_fetching=False)
    ts_context = ValidationContext(trust_roots=[load_cert_from_pemder(str(p)) for p in tsa_roots or []],
                                   allow_fetching=False)
    try:
        with pdf.open("rb") as handle:
            reader = PdfFileReader(handle, strict=False)
            signatures = reader.embedded_regular_signatures
            if not signatures:
                return SealStatus(intact=False, valid=False, signer="", detail=f"{pdf}: no signature")
            status = validate_pdf_signature(signatures[-1], context, ts_context)
            stamps = reader.embedded_timestamp_signatures
            last_stamp = validate_pdf_timestamp(stamps[-1], ts_context) if stamps else None
            has_dss = "/DSS" in reader.root
    except Exception as exc:  # a damaged file is a verdict, not a crash
        return SealStatus(intact=False, valid=False, signer="", detail=f"{pdf}: {type(exc).__name__}: {exc}")
    return _seal_status(pdf, status, last_stamp, has_dss, expected)


def _seal_status(pdf: Path, status: PdfSignatureStatus, stamp: DocumentTimestampStatus | None, has_dss: bool,
                 expected: x509.Certificate) -> SealStatus:
    stamp_covers = (stamp is not None and stamp.intact and stamp.valid
                    and stamp.coverage == SignatureCoverageLevel.ENTIRE_FILE)
    whole = status.coverage == SignatureCoverageLevel.ENTIRE_FILE or (
        stamp_covers and status.modification_level in (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES))
    intact = status.intact and whole
    ours = status.signing_cert.dump() == expected.public_bytes(serialization.Encoding.DER)
    signer = status.signing_cert.subject.native.get("common_name", status.signing_cert.subject.human_friendly)
    timestamped = status.timestamp_validity is not None and status.timestamp_validity.intact \
        and status.timestamp_validity.valid
    level = "B-LTA" if timestamped and has_dss and stamp_covers else "B-LT" if timestamped and has_dss \
        else "B-T" if timestamped else "B-B"
    valid = intact and status.valid and status.trusted and ours
    return SealStatus(intact=intact, valid=valid, signer=signer, trusted=status.trusted, timestamped=timestamped,
                      level=level, detail=f"{pdf}: {_status_detail(status)}")
