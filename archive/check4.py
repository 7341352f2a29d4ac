"""四性检测 (DA/T 70-2018): authenticity, integrity, usability and security checks, per stage.

The standard has one item table per stage (``schemas/check4_items.json``): GD 归档 and BC 长期保存
run here on a stored AIP (GD on the head before 归档; BC on the object as kept over time: every
version's signature, the fixity audits, the catalog's versions, the signed log heads), YJ 移交与接收
runs on a transfer package (``archive/transfer/check4_yj.py``). Each item is ``pass``, ``fail``,
``not_applicable`` (with the reason) or ``manual``: a person checks it and signs it off
(``archive/check4_signoff.py``, logged in the hash-chained log); until then the report is
``incomplete``. No item passes without evidence: a PDF/A claim in the XMP, or a log with no signed
head, is no evidence. Content fixity comes from one ``verify_object`` pass, so each stored file is
read once for digests.

Schemas ship in ``schemas/``: METS 1.12 (its XLink import pointed at ``schemas/xlink-loc.xsd``),
PREMIS 3.0 (``premis-v3-0.xsd``) and the case metadata element set (``case-metadata-1.xsd``);
nothing is fetched.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache, cached_property
from pathlib import Path
from typing import Literal

import pikepdf
from cryptography import x509
from lxml import etree
from PIL import Image
from pydantic import BaseModel

from archive import premis
from archive.archival_code import ArchivalCodeRule
from archive.bag import read_bag_info
from archive.check4_longterm import LONGTERM_CHECKS, log_verdict
from archive.check4_signoff import SignOff
from archive.mets import CASE_NS, CASE_SCHEMA, METS_NS, XLINK_NS
from archive.premis_evidence import evidence_for
from archive.package import CASE_JSON, METS_XML, PREMIS_XML, CaseRecord, StoredFile, sniff_format
from archive.records import ocfl_id_for
from archive.storage.base import FileRecord, Store
from archive.verify import Finding, verify_object
from ingest._exec import qpdf
from schemas import SCHEMA_DIR, load_json

Stage = Literal["GD", "YJ", "BC"]
Outcome = Literal["pass", "fail", "not_applicable", "manual"]
Status = Literal["pass", "fail", "incomplete"]
STAGES = ("GD", "YJ", "BC")
REPORT_FORMAT = "juanzong-check4/1"
RETENTIONS = {"永久", "60年", "20年"}
SECURITY_CLASSES = {"公开", "内部", "秘密", "机密", "绝密"}
VOLUMES = {"正卷", "副卷"}
ORIGINAL_FORMATS = {"PDF", "TIFF", "JPEG", "PNG"}
CASE_NUMBER = re.compile(r"^（\d{4}）[\u4e00-\u9fff]{1,3}\d{0,4}[\u4e00-\u9fff]{1,5}[1-9]\d*号$")
FIELD_LENGTHS = {"case_number": 100, "court": 200, "court_code": 32, "case_type": 32, "procedure": 32,
                 "cause_of_action": 200, "judge": 100, "clerk": 100, "retention_period": 16,
                 "security_class": 16}
REQUIRED_FIELDS = ("case_number", "court", "court_code", "case_type", "procedure", "cause_of_action",
                   "judge", "clerk", "filing_date", "closing_date", "retention_period", "security_class")
MIN_DPI = 200
PREMIS_XSD = "premis-v3-0.xsd"
VALIDATOR, VIRUS_SCANNER = "veraPDF", "ClamAV"


class ItemResult(BaseModel):
    code: str  # e.g. "GD-1-7"
    item: str  # e.g. "1-7"
    property: str
    title_zh: str
    title_en: str  # what is checked
    basis: str = ""  # what a pass rests on
    outcome: Outcome
    evidence: list[str] = []
    signed_off_by: str | None = None  # the person who decided a manual item


class Check4Report(BaseModel):
    format: str = REPORT_FORMAT
    standard: str = "DA/T 70-2018"
    aip_id: str | None
    case_number: str | None
    stage: Stage
    version: int | None
    package: str | None = None  # the transfer package checked (YJ)
    checked_at: datetime
    items: list[ItemResult]

    @property
    def failed(self) -> list[str]:
        return [i.code for i in self.items if i.outcome == "fail"]

    @property
    def open(self) -> list[str]:
        """Manual items no named person has signed off yet."""
        return [i.code for i in self.items if i.outcome == "manual"]

    @property
    def status(self) -> Status:
        return "fail" if self.failed else "incomplete" if self.open else "pass"

    @property
    def ok(self) -> bool:
        return self.status == "pass"

    def summary(self) -> dict[str, int]:
        return dict(Counter(i.outcome for i in self.items))


@dataclass
class Check4Context:
    """What the checks read: the stored head version, its findings and optional catalog facts."""

    store: Store
    aip_id: str
    stage: Stage
    trusted: list[x509.Certificate] | None = None
    rule: ArchivalCodeRule | None = None
    catalog_url: str | None = None
    premis_xsd: Path | None = None
    replica: Store | None = None
    log_dir: Path | None = None
    jobs: int = 2
    files: dict[str, FileRecord] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def object_id(self) -> str:
        return ocfl_id_for(self.aip_id)

    def path(self, logical: str) -> Path:
        return self.files[logical].path

    @cached_property
    def record(self) -> CaseRecord:
        return CaseRecord.model_validate_json(self.path(CASE_JSON).read_bytes())

    @cached_property
    def mets(self) -> etree._ElementTree:
        return _parse_xml(self.path(METS_XML))

    @cached_property
    def premis(self) -> etree._ElementTree:
        return _parse_xml(self.path(PREMIS_XML))

    def stored_files(self) -> list[StoredFile]:
        files = [f for d in self.record.documents for f in (d.original, d.pdfa, *(t.file for t in d.text)) if f]
        return files + [f for s in self.record.submissions for f in s.files()]


Result = tuple[Outcome, list[str]]
Check = Callable[[Check4Context], Result]


def _parse_xml(path: Path) -> etree._ElementTree:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    return etree.parse(str(path), parser)


def _verdict(problems: list[str], ok_evidence: str) -> Result:
    return ("fail", problems[:50]) if problems else ("pass", [ok_evidence])


# ---- schemas -----------------------------------------------------------------------------------

@cache
def load_xsd(path: Path, imports: tuple[tuple[str, Path], ...] = ()) -> etree.XMLSchema:
    """An XSD with the ``xsd:import`` of each namespace in ``imports`` pointed at a local file."""
    doc = _parse_xml(path)
    xs = "{http://www.w3.org/2001/XMLSchema}"
    local = dict(imports)
    for element in doc.getroot().iter(f"{xs}import"):
        if element.get("namespace") in local:
            element.set("schemaLocation", local[element.get("namespace")].resolve().as_uri())
    return etree.XMLSchema(doc)


def mets_schema() -> etree.XMLSchema:
    return load_xsd(SCHEMA_DIR / "mets-1.12.xsd", ((XLINK_NS, SCHEMA_DIR / "xlink-loc.xsd"),))


def premis_schema() -> etree.XMLSchema:
    return load_xsd(SCHEMA_DIR / PREMIS_XSD)


def case_schema() -> etree.XMLSchema:
    return load_xsd(SCHEMA_DIR / CASE_SCHEMA)


# ---- authenticity ------------------------------------------------------------------------------

def _findings_of(ctx: Check4Context, kinds: set[str]) -> list[str]:
    return [f"{f.kind} {f.path}: {f.reason} (expected {f.expected}, found {f.actual})"
            for f in ctx.findings if f.kind in kinds]


def check_signature(ctx: Check4Context) -> Result:
    problems = _findings_of(ctx, {"signature"})
    if problems:
        return "fail", problems
    from archive.signing import SIGNATURE_NAME, signature_info

    cert, when = signature_info(ctx.path(SIGNATURE_NAME).read_bytes())
    trust = "a catalog certificate" if ctx.trusted is not None else "its embedded self-signed root"
    return "pass", [f"tagmanifest-sha256.txt.p7s verifies; signer {cert.subject.rfc4514_string()}, "
                    f"signed {when}, chains to {trust}"]


def _case_values(ctx: Check4Context) -> dict[str, object]:
    return ctx.record.case.model_dump()


def check_metadata_length(ctx: Check4Context) -> Result:
    values = _case_values(ctx)
    problems = [f"{name} has {len(str(values[name]))} characters, limit {limit}"
                for name, limit in FIELD_LENGTHS.items() if values.get(name) and len(str(values[name])) > limit]
    problems += [f"{d.entry.path}: title has {len(d.entry.document.title)} characters, limit 200"
                 for d in ctx.record.documents if len(d.entry.document.title) > 200]
    return _verdict(problems, f"{len(FIELD_LENGTHS)} case fields and {len(ctx.record.documents)} titles within limits")


def check_metadata_format(ctx: Check4Context) -> Result:
    case = ctx.record.case
    problems = [] if CASE_NUMBER.match(case.case_number) else [f"案号 {case.case_number} does not follow （年度）法院代字类型代字编号号"]
    return _verdict(problems, f"案号 {case.case_number} well-formed; dates are ISO 8601 calendar dates")


def check_metadata_domain(ctx: Check4Context) -> Result:
    case = ctx.record.case
    problems = [] if case.retention_period in RETENTIONS else [f"保管期限 {case.retention_period} not in {sorted(RETENTIONS)}"]
    if case.security_class not in SECURITY_CLASSES:
        problems.append(f"密级 {case.security_class} not in {sorted(SECURITY_CLASSES)}")
    problems += [f"{d.entry.path}: 卷别 {d.entry.document.volume}" for d in ctx.record.documents
                 if d.entry.document.volume not in VOLUMES]
    return _verdict(problems, f"保管期限 {case.retention_period}, 密级 {case.security_class}, 卷别 in {sorted(VOLUMES)}")


def check_metadata_plausible(ctx: Check4Context) -> Result:
    case, record = ctx.record.case, ctx.record
    problems = []
    if case.closing_date and case.closing_date < case.filing_date:
        problems.append(f"closing date {case.closing_date} before filing date {case.filing_date}")
    if case.closing_date and record.archived_on < case.closing_date:
        problems.append(f"archived on {record.archived_on}, before closing {case.closing_date}")
    problems += [f"{d.entry.path}: page count {d.entry.page_count}" for d in record.documents if d.entry.page_count < 1]
    return _verdict(problems, f"filed {case.filing_date} ≤ closed {case.closing_date} ≤ archived {record.archived_on}")


def _bad_characters(text: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn") and c not in "\n\t" for c in text)


def check_metadata_characters(ctx: Check4Context) -> Result:
    values = [(k, v) for k, v in _case_values(ctx).items() if isinstance(v, str)]
    values += [(f"{d.entry.path} title", d.entry.document.title) for d in ctx.record.documents]
    problems = [f"{name} holds a control or unassigned character" for name, v in values if _bad_characters(v)]
    return _verdict(problems, f"{len(values)} text values hold no control or unassigned characters")


def check_archival_code(ctx: Check4Context) -> Result:
    code = ctx.record.archival_code or _catalog_archival_code(ctx)
    if not code:
        return "fail", ["no 档号 assigned (run `juanzong archive-case`)"]
    if ctx.rule is None:
        return "manual", [f"档号 {code}; no rule configured to check its form"]
    if not ctx.rule.is_well_formed(code):
        return "fail", [f"档号 {code} does not match {ctx.rule.pattern().pattern}"]
    return "pass", [f"档号 {code} follows 全宗号-年度-保管期限-类别-案卷号"]


def _catalog_archival_code(ctx: Check4Context) -> str | None:
    if ctx.catalog_url is None:
        return None
    from archive.catalog import session
    from archive.catalog.models import Case

    with session(ctx.catalog_url) as s:
        case = s.get(Case, ctx.record.case_number)
        return case.archival_code if case else None


def check_metadata_duplicates(ctx: Check4Context) -> Result:
    docs = ctx.record.documents
    problems = [f"document id {k} appears {n} times" for k, n in Counter(d.document_id for d in docs).items() if n > 1]
    problems += [f"{vol} 卷内顺序号 {seq} used {n} times" for (vol, seq), n in
                 Counter((d.entry.document.volume, d.entry.document.seq) for d in docs).items() if n > 1]
    problems += [f"original content {k[:16]}… stored {n} times" for k, n in Counter(d.original.sha256 for d in docs).items() if n > 1]
    return _verdict(problems, f"{len(docs)} documents: identifiers, order numbers and originals unique")


def check_electronic_properties(ctx: Check4Context) -> Result:
    problems = []
    for stored in ctx.stored_files():
        record = ctx.files.get(stored.path)
        if record is None:
            problems.append(f"{stored.path}: recorded in case.json, not in the package")
            continue
        if record.sha256 and record.sha256 != stored.sha256:
            problems.append(f"{stored.path}: sha256 {record.sha256} in storage, {stored.sha256} in case.json")
        if record.size is not None and record.size != stored.size:
            problems.append(f"{stored.path}: {record.size} bytes in storage, {stored.size} in case.json")
    for doc in ctx.record.documents:
        for stored in (doc.original, doc.pdfa):
            if stored and stored.path in ctx.files and sniff_format(ctx.path(stored.path))[0] != stored.format_name:
                problems.append(f"{stored.path}: content is {sniff_format(ctx.path(stored.path))[0]}, recorded {stored.format_name}")
    return _verdict(problems, f"{len(ctx.stored_files())} files: size, SHA-256 and format as recorded")


def _mets_files(ctx: Check4Context) -> dict[str, tuple[str, str]]:
    """METS file href (bag path) -> (CHECKSUM, SIZE)."""
    from urllib.parse import unquote

    out = {}
    for f in ctx.mets.getroot().iter(f"{{{METS_NS}}}file"):
        locat = f.find(f"{{{METS_NS}}}FLocat")
        href = unquote(locat.get(f"{{{XLINK_NS}}}href", "")) if locat is not None else ""
        out[f"data/metadata/{href}" if not href.startswith("../") else "data/" + href[3:]] = (
            f.get("CHECKSUM", ""), f.get("SIZE", ""))
    return {_normal(k): v for k, v in out.items()}


def _normal(path: str) -> str:
    import posixpath

    return posixpath.normpath(path)


def check_metadata_links(ctx: Check4Context) -> Result:
    mets_files = _mets_files(ctx)
    problems = [f"METS names {p}, not in the package" for p in mets_files if p not in ctx.files]
    problems += [f"METS checksum of {p} differs from the stored file" for p, (sha, _) in mets_files.items()
                 if p in ctx.files and ctx.files[p].sha256 and sha != ctx.files[p].sha256]
    problems += [f"document {d.entry.path} has no original in METS" for d in ctx.record.documents
                 if d.original.path not in mets_files]
    return _verdict(problems, f"{len(mets_files)} METS file entries resolve to stored files with equal SHA-256")


def check_fixity(ctx: Check4Context) -> Result:
    return _verdict(_findings_of(ctx, {"missing", "size", "digest", "inventory"}),
                    f"{len(ctx.files)} files: SHA-512 equals the OCFL inventory; inventories match sidecars")


def check_package_structure(ctx: Check4Context) -> Result:
    required = ["bagit.txt", "bag-info.txt", "manifest-sha256.txt", "manifest-sha512.txt",
                "tagmanifest-sha256.txt", "tagmanifest-sha512.txt", "tagmanifest-sha256.txt.p7s",
                CASE_JSON, METS_XML, PREMIS_XML]
    problems = [f"{name} missing" for name in required if name not in ctx.files]
    allowed = ("data/original/", "data/pdfa/", "data/text/", "data/metadata/")
    problems += [f"{p} outside the AIP profile's folders" for p in ctx.files
                 if p.startswith("data/") and not p.startswith(allowed)]
    return _verdict(problems, "BagIt 1.0 bag with data/{original,pdfa,text,metadata} and signed tag manifest")


def check_submission_consistency(ctx: Check4Context) -> Result:
    problems = [f"{d.entry.path}: archived sha256 {d.original.sha256}, station sent {d.entry.sha256}"
                for d in ctx.record.documents if d.original.sha256 != d.entry.sha256.lower()]
    problems += [f"{d.entry.path}: archived {d.original.size} bytes, station sent {d.entry.byte_size}"
                 for d in ctx.record.documents if d.original.size != d.entry.byte_size]
    for sub in ctx.record.submissions:
        manifest = json.loads(ctx.path(sub.manifest.path).read_bytes())
        sent = {f["path"]: f["sha256"].lower() for f in manifest.get("files", [])}
        problems += [f"{d.entry.path}: not as in batch {sub.batch_id} manifest" for d in ctx.record.documents
                     if d.batch_id == sub.batch_id and sent.get(d.entry.path) != d.original.sha256]
    return _verdict(problems, f"{len(ctx.record.documents)} originals byte-identical to the station manifests")


def check_mets_valid(ctx: Check4Context) -> Result:
    try:
        tree = ctx.mets
    except etree.XMLSyntaxError as exc:
        return "fail", [f"METS.xml is not well-formed: {exc}"]
    schema = mets_schema()
    if not schema.validate(tree):
        return "fail", [str(e) for e in list(schema.error_log)[:20]]
    problems, cases = [], tree.getroot().iter(f"{{{CASE_NS}}}case")
    for element in cases:
        if not case_schema().validate(etree.ElementTree(element)):
            problems += [f"dmdSec case: {e.message}" for e in list(case_schema().error_log)[:20]]
    return _verdict(problems, f"METS.xml valid against METS 1.12; case dmdSec valid against {CASE_SCHEMA}")


def check_premis_valid(ctx: Check4Context) -> Result:
    try:
        tree = ctx.premis
    except etree.XMLSyntaxError as exc:
        return "fail", [f"premis.xml is not well-formed: {exc}"]
    schema = load_xsd(ctx.premis_xsd) if ctx.premis_xsd else premis_schema()
    if schema.validate(tree):
        return "pass", [f"premis.xml valid against {(ctx.premis_xsd or SCHEMA_DIR / PREMIS_XSD).name}"]
    return "fail", [str(e) for e in list(schema.error_log)[:20]]


P = premis.P


def _events(ctx: Check4Context) -> list[tuple[str, set[str]]]:
    """(event type, linked object ids) of every PREMIS event."""
    out = []
    for e in ctx.premis.getroot().iter(P + "event"):
        objects = {link.findtext(P + "linkingObjectIdentifierValue") or ""
                   for link in e.findall(P + "linkingObjectIdentifier")}
        out.append((e.findtext(P + "eventType") or "", objects))
    return out


def check_process_events(ctx: Check4Context) -> Result:
    types = {t for t, _ in _events(ctx)}
    missing = [t for t in ("capture", "fixity check", "ingestion") if t not in types]
    return _verdict([f"no PREMIS {t} event" for t in missing], f"PREMIS events recorded: {', '.join(sorted(types))}")


# ---- integrity ---------------------------------------------------------------------------------

def check_document_count(ctx: Check4Context) -> Result:
    expected: set[str] = set()
    for sub in ctx.record.submissions:
        manifest = json.loads(ctx.path(sub.manifest.path).read_bytes())
        expected |= {f["path"] for f in manifest.get("files", []) if f.get("case_number") == ctx.record.case_number}
    held = {d.entry.path for d in ctx.record.documents}
    problems = [f"{p}: submitted for the case, not in the AIP" for p in sorted(expected - held)]
    return _verdict(problems, f"{len(held)} documents held, {len(expected)} submitted for {ctx.record.case_number}")


def check_payload_oxum(ctx: Check4Context) -> Result:
    bag = ctx.path("bag-info.txt").parent
    oxum = read_bag_info(bag).get("Payload-Oxum", [""])[0]
    payload = [r for p, r in ctx.files.items() if p.startswith("data/")]
    found = f"{sum(r.path.stat().st_size for r in payload)}.{len(payload)}"
    return ("pass", [f"Payload-Oxum {oxum}"]) if oxum == found else ("fail", [f"Payload-Oxum {oxum}, payload is {found}"])


def check_metadata_required(ctx: Check4Context) -> Result:
    values = _case_values(ctx)
    missing = [name for name in REQUIRED_FIELDS if values.get(name) in (None, "", [])]
    missing += ["parties"] if not ctx.record.case.parties else []
    missing += ["panel (合议庭)"] if ctx.record.case.procedure != "执行" and not ctx.record.case.panel else []
    return _verdict([f"{m} is empty" for m in missing], f"{len(REQUIRED_FIELDS) + 1} required case fields present")


def check_continuity(ctx: Check4Context) -> Result:
    problems = []
    for volume in sorted(VOLUMES):
        seqs = sorted(d.entry.document.seq for d in ctx.record.documents if d.entry.document.volume == volume)
        if seqs and seqs != list(range(seqs[0], seqs[0] + len(seqs))):
            problems.append(f"{volume} 卷内顺序号 {seqs} has gaps")
    for d in ctx.record.documents:
        pages = [t.page for t in d.text]
        if pages and pages != list(range(1, len(pages) + 1)):
            problems.append(f"{d.entry.path}: page texts {pages} not continuous")
    return _verdict(problems, "卷内顺序号 per volume and page numbers per document continuous")


def check_content_complete(ctx: Check4Context) -> Result:
    problems = []
    for d in ctx.record.documents:
        if d.pdfa is None and d.ocr.status != "failed":
            problems.append(f"{d.entry.path}: no PDF/A copy")
        if d.ocr.status != "failed" and len(d.text) != d.entry.page_count:
            problems.append(f"{d.entry.path}: {len(d.text)} page texts for {d.entry.page_count} pages")
    failed = [d.entry.path for d in ctx.record.documents if d.ocr.status == "failed"]
    if problems:
        return "fail", problems
    note = f"; OCR failed (original kept) for {failed}" if failed else ""
    return "pass", [f"{len(ctx.record.documents)} documents with original, PDF/A and page texts{note}"]


def page_count(path: Path) -> int:
    """Pages of a PDF, TIFF, JPEG or PNG."""
    with path.open("rb") as handle:
        head = handle.read(5)
    if head == b"%PDF-":
        with pikepdf.open(path) as pdf:
            return len(pdf.pages)
    with Image.open(path) as image:
        return getattr(image, "n_frames", 1)


def check_page_counts(ctx: Check4Context) -> Result:
    problems = []
    for d in ctx.record.documents:
        for stored in (d.original, d.pdfa):
            if stored is not None and stored.path in ctx.files:
                found = page_count(ctx.path(stored.path))
                if found != d.entry.page_count:
                    problems.append(f"{stored.path}: {found} pages, manifest says {d.entry.page_count}")
    total = sum(d.entry.page_count for d in ctx.record.documents)
    return _verdict(problems, f"{total} pages in {len(ctx.record.documents)} documents, as in the manifest")


def check_process_complete(ctx: Check4Context) -> Result:
    events = _events(ctx)
    problems = []
    for d in ctx.record.documents:
        oid = premis.object_id(d.original)
        types = {t for t, objects in events if oid in objects}
        needed = {"capture", "fixity check"} | ({"OCR"} if d.ocr.status != "skipped_has_text" else set())
        problems += [f"{d.entry.path}: no {t} event" for t in sorted(needed - types)]
    return _verdict(problems, f"capture, fixity check and OCR events for all {len(ctx.record.documents)} documents")


def check_package_complete(ctx: Check4Context) -> Result:
    return _verdict(_findings_of(ctx, {"missing", "extra"}),
                    "every file the manifests and inventory list is present; no unlisted payload file")


def check_mets_complete(ctx: Check4Context) -> Result:
    listed = set(_mets_files(ctx))
    payload = {p for p in ctx.files if p.startswith("data/") and p != METS_XML}
    return _verdict([f"{p} not in METS fileSec" for p in sorted(payload - listed)],
                    f"METS fileSec lists all {len(payload)} payload files (besides METS.xml)")


# ---- usability ---------------------------------------------------------------------------------

def check_metadata_readable(ctx: Check4Context) -> Result:
    problems = []
    for name, load in ((CASE_JSON, lambda: ctx.record), (METS_XML, lambda: ctx.mets), (PREMIS_XML, lambda: ctx.premis)):
        try:
            load()
        except Exception as exc:  # noqa: BLE001 - any parse failure is the finding
            problems.append(f"{name}: {exc}")
    return _verdict(problems, "case.json, METS.xml and premis.xml parse (UTF-8)")


def check_catalog_access(ctx: Check4Context) -> Result:
    if ctx.catalog_url is None:
        return "not_applicable", ["no catalog given"]
    from archive.catalog import session
    from archive.catalog.models import Aip, Case

    with session(ctx.catalog_url) as s:
        case, aip = s.get(Case, ctx.record.case_number), s.get(Aip, ctx.aip_id)
    problems = [] if case else [f"case {ctx.record.case_number} not in the catalog"]
    problems += [] if aip else [f"AIP {ctx.aip_id} not in the catalog"]
    return _verdict(problems, f"catalog holds case {ctx.record.case_number} and AIP {ctx.aip_id}")


def check_formats(ctx: Check4Context) -> Result:
    return formats_verdict(ctx.premis, ctx.record, {p: ctx.path(p) for p in ctx.files if p.startswith("data/")})


def formats_verdict(premis_tree: etree._ElementTree, record: CaseRecord, paths: dict[str, Path]) -> Result:
    """Item 3-3: each PDF/A derivative is PDF/A by its content and passed veraPDF (PREMIS evidence);
    a PDF/A claim in the XMP alone is no evidence."""
    docs = record.documents
    problems = [f"{d.original.path}: format {d.original.format_name}" for d in docs
                if d.original.format_name not in ORIGINAL_FORMATS and not d.original.format_name.startswith("PDF")]
    pdfa = [d.pdfa for d in docs if d.pdfa is not None]
    problems += [f"{f.path}: {sniff_format(paths[f.path])[0]} by its content, not PDF/A" for f in pdfa
                 if f.path in paths and not sniff_format(paths[f.path])[0].startswith("PDF/A")]
    found, evidence = evidence_for(premis_tree, "validation", VALIDATOR, {premis.object_id(f): f.path for f in pdfa})
    problems += found
    if problems or not pdfa:
        return _verdict(problems, "no PDF/A derivative to validate; originals are PDF/TIFF/JPEG/PNG")
    return "pass", [f"{len(pdfa)} PDF/A files validated by {VALIDATOR}", *evidence[:20]]


def virus_verdict(premis_tree: etree._ElementTree, record: CaseRecord) -> Result:
    """Item 4-2: every submitted file was scanned by ClamAV and found clean (PREMIS evidence)."""
    originals = {premis.object_id(d.original): d.original.path for d in record.documents}
    problems, evidence = evidence_for(premis_tree, "virus check", VIRUS_SCANNER, originals)
    if problems:
        return "fail", problems[:50]
    return "pass", [f"{len(originals)} submitted files scanned by {VIRUS_SCANNER}", *evidence[:20]]


def _pdfs(ctx: Check4Context) -> list[StoredFile]:
    return [f for d in ctx.record.documents for f in (d.original, d.pdfa)
            if f is not None and f.media_type == "application/pdf" and f.path in ctx.files]


def check_readable_pdf(ctx: Check4Context) -> Result:
    problems = []
    for stored in _pdfs(ctx):
        ok, report = qpdf.check(ctx.path(stored.path))
        if not ok:
            problems.append(f"{stored.path}: {report.strip().splitlines()[-1] if report.strip() else 'qpdf failed'}")
    return _verdict(problems, f"{len(_pdfs(ctx))} PDFs pass qpdf {qpdf.version()} --check")


def check_environment(ctx: Check4Context) -> Result:
    problems = [f"{d.entry.path}: OCR engine or version not recorded" for d in ctx.record.documents
                if not d.ocr.engine or not d.ocr.engine_version]
    problems += [f"batch {s.batch_id}: station not recorded" for s in ctx.record.submissions if not s.station_id]
    engines = sorted({f"{d.ocr.engine} {d.ocr.engine_version}" for d in ctx.record.documents})
    return _verdict(problems, f"OCR {', '.join(engines)}; stations {sorted({s.station_id for s in ctx.record.submissions})}")


def check_no_encryption(ctx: Check4Context) -> Result:
    problems = []
    for stored in _pdfs(ctx):
        with pikepdf.open(ctx.path(stored.path)) as pdf:
            if pdf.is_encrypted:
                problems.append(f"{stored.path}: encrypted")
    return _verdict(problems, f"{len(_pdfs(ctx))} PDFs unencrypted; bag uses no compression")


def check_text_present(ctx: Check4Context) -> Result:
    pages = [(d, p) for d in ctx.record.documents for p in d.pages]
    empty = [f"{d.entry.path} page {p.page}" for d, p in pages
             if not p.flags and not any(t.page == p.page and t.file.size > 0 for t in d.text)]
    return _verdict([f"{e}: no text and not flagged" for e in empty],
                    f"{len(pages)} pages have text or a flag (blank, ocr_failed)")


def check_scan_resolution(ctx: Check4Context) -> Result:
    problems = []
    for sub in ctx.record.submissions:
        dpi = json.loads(ctx.path(sub.manifest.path).read_bytes()).get("scan_settings", {}).get("dpi", 0)
        if dpi < MIN_DPI:
            problems.append(f"batch {sub.batch_id} scanned at {dpi} dpi, below {MIN_DPI}")
    return _verdict(problems, f"every batch scanned at ≥ {MIN_DPI} dpi (pages below were refused at intake)")


def check_replica(ctx: Check4Context) -> Result:
    if ctx.replica is None:
        return "not_applicable", ["no replica root configured"]
    head, replica_head = ctx.store.head(ctx.object_id), ctx.replica.head(ctx.object_id)
    if head != replica_head:
        return "fail", [f"replica head v{replica_head}, primary v{head}"]
    findings = verify_object(ctx.replica, ctx.object_id, ctx.trusted, jobs=ctx.jobs)
    return _verdict([f"replica {f.kind} {f.path}" for f in findings], f"replica holds v{head} and verifies")


# ---- security ----------------------------------------------------------------------------------

def check_virus(ctx: Check4Context) -> Result:
    return virus_verdict(ctx.premis, ctx.record)


def check_extra_files(ctx: Check4Context) -> Result:
    return _verdict(_findings_of(ctx, {"extra"}), "no file in the object outside its inventory")


def check_audit_log(ctx: Check4Context) -> Result:
    return log_verdict(ctx, None)


def check_secondary_volume(ctx: Check4Context) -> Result:
    problems = [f"{d.entry.path}: 副卷 document marked disclosable" for d in ctx.record.documents
                if d.entry.document.volume == "副卷" and d.disclosable]
    rights = {}
    for statement in ctx.premis.getroot().iter(P + "rightsStatement"):
        ident = statement.findtext(f"{P}rightsStatementIdentifier/{P}rightsStatementIdentifierValue") or ""
        rights[ident] = statement.findtext(f"{P}rightsGranted/{P}restriction") or ""
    for d in ctx.record.documents:
        expected = "Allow" if d.disclosable else "Disallow"
        if rights.get(premis.rights_id(d.document_id)) != expected:
            problems.append(f"{d.entry.path}: PREMIS rights say {rights.get(premis.rights_id(d.document_id))!r}, expected {expected}")
    secondary = sum(d.entry.document.volume == "副卷" for d in ctx.record.documents)
    return _verdict(problems, f"{secondary} 副卷 documents, none disclosable; PREMIS rights agree")


def check_no_private_keys(ctx: Check4Context) -> Result:
    marker = b"PRIVATE KEY-----"
    scanned = [p for p in ctx.files if not p.startswith(("data/original/", "data/pdfa/"))]
    problems = [f"{p} holds a PEM private key" for p in scanned if marker in ctx.path(p).read_bytes()]
    return _verdict(problems, f"{len(scanned)} metadata, text and tag files hold no private key")


CHECKS: dict[str, Check] = {
    "signature": check_signature, "metadata_length": check_metadata_length,
    "metadata_format": check_metadata_format, "metadata_domain": check_metadata_domain,
    "metadata_plausible": check_metadata_plausible, "metadata_characters": check_metadata_characters,
    "archival_code": check_archival_code, "metadata_duplicates": check_metadata_duplicates,
    "electronic_properties": check_electronic_properties, "metadata_links": check_metadata_links,
    "fixity": check_fixity, "package_structure": check_package_structure,
    "submission_consistency": check_submission_consistency, "mets_valid": check_mets_valid,
    "premis_valid": check_premis_valid, "process_events": check_process_events,
    "document_count": check_document_count, "payload_oxum": check_payload_oxum,
    "metadata_required": check_metadata_required, "continuity": check_continuity,
    "content_complete": check_content_complete, "page_counts": check_page_counts,
    "process_complete": check_process_complete, "package_complete": check_package_complete,
    "mets_complete": check_mets_complete, "metadata_readable": check_metadata_readable,
    "catalog_access": check_catalog_access, "formats": check_formats, "readable_pdf": check_readable_pdf,
    "environment": check_environment, "no_encryption": check_no_encryption,
    "text_present": check_text_present, "scan_resolution": check_scan_resolution, "replica": check_replica,
    "virus": check_virus, "extra_files": check_extra_files, "audit_log": check_audit_log,
    "secondary_volume": check_secondary_volume, "no_private_keys": check_no_private_keys,
}


def items_for(stage: Stage) -> list[dict]:
    """The stage's own item table (GD, YJ and BC each have theirs)."""
    return load_json("check4_items.json")["stages"][stage]


def manual_codes(stage: Stage) -> list[str]:
    return [f"{stage}-{i['code']}" for i in items_for(stage) if not i["check"]]


def _manual_result(signoff: SignOff | None) -> tuple[Outcome, list[str], str | None]:
    if signoff is None:
        return "manual", ["open: a named person must check this item and sign it off "
                          "(`juanzong check4 signoff`)"], None
    return signoff.decision, [f"signed off {signoff.decision} by {signoff.by} at {signoff.at.isoformat()}: "
                              f"{signoff.note}"], signoff.by


def evaluate_items(stage: Stage, checks: dict[str, Callable[[object], Result]], ctx: object,
                   signoffs: dict[str, SignOff]) -> list[ItemResult]:
    """Every item of ``stage``: machine items through ``checks``, manual ones from their sign-offs."""
    results = []
    for item in items_for(stage):
        code, by = f"{stage}-{item['code']}", None
        if not item["check"]:
            outcome, evidence, by = _manual_result(signoffs.get(code))
        else:
            try:
                outcome, evidence = checks[item["check"]](ctx)
            except Exception as exc:  # noqa: BLE001 - a check that cannot read its input fails, with why
                outcome, evidence = "fail", [f"could not be checked: {type(exc).__name__}: {exc}"]
        results.append(ItemResult(code=code, item=item["code"], property=item["property"], title_zh=item["zh"],
                                  title_en=item["en"], basis=item["evidence"], outcome=outcome,
                                  evidence=evidence, signed_off_by=by))
    return results


def run_check4(store: Store, aip_id: str, stage: Stage, *, trusted: list[x509.Certificate] | None = None,
               rule: ArchivalCodeRule | None = None, catalog_url: str | None = None,
               premis_xsd: Path | None = None, replica: Store | None = None, log_dir: Path | None = None,
               jobs: int = 2, signoffs: dict[str, SignOff] | None = None) -> Check4Report:
    """Every item of ``stage`` (GD or BC) on the stored object ``aip_id``; never raises for a finding."""
    if stage not in ("GD", "BC"):
        raise ValueError(f"stage {stage!r}: GD and BC check a stored AIP, YJ a transfer package")
    ctx = Check4Context(store=store, aip_id=aip_id, stage=stage, trusted=trusted, rule=rule,
                        catalog_url=catalog_url, premis_xsd=premis_xsd, replica=replica, log_dir=log_dir, jobs=jobs)
    ctx.files = store.files(ctx.object_id)
    ctx.findings = verify_object(store, ctx.object_id, trusted, jobs=jobs)
    items = evaluate_items(stage, {**CHECKS, **LONGTERM_CHECKS}, ctx, signoffs or {})  # type: ignore[dict-item]
    case_number = _safe(lambda: ctx.record.case_number)
    return Check4Report(aip_id=aip_id, case_number=case_number, stage=stage, version=store.head(ctx.object_id),
                        checked_at=datetime.now(timezone.utc), items=items)


def _safe(get: Callable[[], str]) -> str | None:
    try:
        return get()
    except Exception:  # noqa: BLE001 - the report still names the AIP when case.json is unreadable
        return None


def report_json(report: Check4Report) -> bytes:
    return (report.model_dump_json(indent=2) + "\n").encode("utf-8")
