"""Stage ``build_aip``: one case's submission (plus the case's current head) -> an unsigned bag.

Bag layout (other stages depend on it)::

    data/original/<manifest path>          the station's scan, byte-identical
    data/pdfa/<manifest path>.pdf          the OCR'd PDF/A (absent when OCR failed)
    data/text/<manifest path w/o suffix>/page_0001.txt
    data/metadata/METS.xml, premis.xml, case.json
    data/metadata/submissions/<batch_id>/manifest.json

Nothing that depends on the clock enters the payload: event times come from the inputs
(scan and OCR times), identifiers are UUIDv5 of content. So the same inputs give the same
``payload_digest``, which the ingest flow uses to make a repeated ingest a no-op. Only
bag-info.txt (a tag file) carries the Bagging-Date.
"""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, ConfigDict

from archive import mets, premis
from archive.bag import FileDigests, copy_with_digests, payload_digest, write_bag, write_with_digests
from archive.records import BuiltAip, CaseSubmission, SubmittedDocument
from ingest.manifest import MANIFEST_NAME, BatchManifest, CaseMeta, FileEntry
from ingest._exec import siegfried
from ingest._exec.siegfried import Identification
from ingest.records import PdfaValidation, UnsureSpan
from ingest.validate.formats import identified_type
from schemas.errors import InputRejected, JuanzongError

CASE_RECORD_FORMAT = "juanzong-case/1"
METADATA = "data/metadata"
CASE_JSON = f"{METADATA}/case.json"
PREMIS_XML = f"{METADATA}/premis.xml"
METS_XML = f"{METADATA}/METS.xml"
PDFA_PUIDS = {"fmt/95", "fmt/354", "fmt/476", "fmt/477", "fmt/478", "fmt/479", "fmt/480", "fmt/481"}
SHORT_NAMES = {"application/pdf": "PDF", "image/tiff": "TIFF", "image/jpeg": "JPEG", "image/png": "PNG"}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class StoredFile(_Frozen):
    """One payload file: bag path (``data/...``), size, digests and format."""

    path: str
    size: int
    sha256: str
    sha512: str
    sm3: str
    media_type: str
    format_name: str
    format_version: str = ""
    puid: str = ""  # PRONOM format registry key (fmt/477 …), siegfried's answer; "" before 2026-12


class TextPage(_Frozen):
    page: int
    file: StoredFile


class OcrRecord(_Frozen):
    status: str
    engine: str
    engine_version: str
    languages: str
    options: dict[str, str] = {}
    error: str | None = None
    started_at: datetime
    finished_at: datetime
    validation: PdfaValidation | None = None


class PageRecord(_Frozen):
    page: int
    confidence: float | None = None
    rotation: int = 0
    flags: tuple[str, ...] = ()
    unsure: tuple[UnsureSpan, ...] = ()  # spans of the page text read under the review threshold


class DocumentRecord(_Frozen):
    """Everything the catalog, reindex and show need about one document, without opening files."""

    document_id: str
    batch_id: str
    entry: FileEntry
    disclosable: bool  # effective: a 副卷 document never is
    ocr: OcrRecord
    pages: tuple[PageRecord, ...]
    original: StoredFile
    pdfa: StoredFile | None
    text: tuple[TextPage, ...]
    version_added: int
    version_updated: int

    def content_key(self) -> str:
        """The record minus its version numbers: equal keys mean nothing changed."""
        return self.model_dump_json(exclude={"version_added", "version_updated"})


class SubmissionRecord(_Frozen):
    batch_id: str
    station_id: str
    operator_id: str
    operator_name: str
    archive: str
    scan_started: datetime
    scan_finished: datetime
    manifest: StoredFile
    signature: StoredFile | None = None  # the station's detached CMS over the manifest (manifest.json.p7s)
    source: str = ""  # "manifest signed by station …" or "source not authenticated: …"

    def files(self) -> list[StoredFile]:
        """The stored manifest and, when the station signed it, its signature."""
        return [self.manifest, *([self.signature] if self.signature else [])]


class CaseRecord(_Frozen):
    """``data/metadata/case.json``: the machine-readable face of the AIP."""

    format: str = CASE_RECORD_FORMAT
    aip_id: str
    case_number: str
    aip_version: int
    archival_code: str | None = None
    archived_on: date
    ingested_at: datetime  # the newest input time of the latest submission, not the clock
    case: CaseMeta
    submissions: tuple[SubmissionRecord, ...]
    documents: tuple[DocumentRecord, ...]  # in 卷内顺序
    owner_station: str = ""  # the station whose batches may add to the case ("" in older records)

    def owner(self) -> str:
        """The owning station: recorded, or (older records) the station of the first batch."""
        if self.owner_station or not self.submissions:
            return self.owner_station
        return min(self.submissions, key=lambda s: (s.scan_started, s.batch_id)).station_id


def read_case_record(bag_dir: Path) -> CaseRecord:
    """Parse a bag's case.json (what reindex, show and search read back)."""
    return CaseRecord.model_validate_json((bag_dir / CASE_JSON).read_bytes())


def safe_relative(path: str) -> PurePosixPath:
    """The manifest path as a relative POSIX path; refuses absolute paths, ``..`` and %, CR, LF, \\."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or any(c in path for c in "\\%\r\n"):
        raise InputRejected("E117", path)
    return pure


def original_path(entry: FileEntry) -> str:
    return f"data/original/{safe_relative(entry.path)}"


def pdfa_path(entry: FileEntry) -> str:
    return f"data/pdfa/{safe_relative(entry.path).with_suffix('.pdf')}"


def text_path(entry: FileEntry, page: int) -> str:
    return f"data/text/{safe_relative(entry.path).with_suffix('')}/page_{page:04d}.txt"


def designation(found: Identification) -> tuple[str, str]:
    """(format name, version) in the archive's short words, from PRONOM's answer: ``PDF/A-2``
    ``b`` for fmt/477, ``PDF`` ``1.3`` for fmt/17, ``TIFF``, ``JPEG`` …; PRONOM's own name otherwise."""
    if found.puid in PDFA_PUIDS:
        return f"PDF/A-{found.version[:-1]}", found.version[-1:].lower()
    family = SHORT_NAMES.get(identified_type(found) or "")
    if family:
        return family, found.version
    return (found.name, found.version) if found.is_known else ("unknown", "")


def identify_formats(paths: list[Path]) -> dict[Path, tuple[str, str, str]]:
    """(PUID, format name, version) of each file, from one siegfried run."""
    return {p: (f.puid, *designation(f)) for p, f in siegfried.identify(paths).items()}


def sniff_format(path: Path) -> tuple[str, str]:
    """(format name, version) of one file by PRONOM identification (siegfried)."""
    _puid, name, version = identify_formats([path])[path.absolute()]
    return name, version


def _stored(rel: str, digests: FileDigests, media_type: str, fmt: tuple[str, str] | None) -> StoredFile:
    name, version = fmt or ("", "")
    return StoredFile(path=rel, size=digests.size, sha256=digests.sha256, sha512=digests.sha512,
                      sm3=digests.sm3, media_type=media_type, format_name=name, format_version=version)


class _Builder:
    """Collects what has been written into the bag, with digests, for the manifests, and
    identifies the files' formats in one siegfried run per call of ``identified``."""

    def __init__(self, bag_dir: Path) -> None:
        self.bag_dir = bag_dir
        self.payload: dict[str, FileDigests] = {}
        self.formats: dict[str, tuple[str, str, str]] = {}

    def copy(self, source: Path, rel: str, media_type: str,
             fmt: tuple[str, str] | None = None) -> StoredFile:
        """Copy into the bag; without ``fmt`` the name and version come from ``identified``."""
        digests = copy_with_digests(source, self.bag_dir / rel)
        self.payload[rel] = digests
        return _stored(rel, digests, media_type, fmt)

    def write(self, rel: str, data: bytes, media_type: str, fmt: tuple[str, str] | None = None) -> StoredFile:
        digests = write_with_digests(self.bag_dir / rel, data)
        self.payload[rel] = digests
        return _stored(rel, digests, media_type, fmt)

    def identified(self, stored: StoredFile) -> StoredFile:
        """``stored`` with its PUID (and, unless given, name and version) from siegfried."""
        missing = [rel for rel in self.payload if rel not in self.formats]
        if missing:
            found = identify_formats([self.bag_dir / rel for rel in missing])
            self.formats.update({rel: found[(self.bag_dir / rel).absolute()] for rel in missing})
        puid, name, version = self.formats[stored.path]
        if stored.format_name:
            name, version = stored.format_name, stored.format_version
        return stored.model_copy(update={"puid": puid, "format_name": name, "format_version": version})

    def identified_document(self, doc: DocumentRecord) -> DocumentRecord:
        return doc.model_copy(update={
            "original": self.identified(doc.original),
            "pdfa": self.identified(doc.pdfa) if doc.pdfa else None,
            "text": tuple(t.model_copy(update={"file": self.identified(t.file)}) for t in doc.text)})


def _ocr_record(document: SubmittedDocument) -> OcrRecord:
    """The OCR result minus work-folder paths and page texts, which the bag holds as files."""
    return OcrRecord.model_validate(document.ocr.model_dump(include=set(OcrRecord.model_fields)))


def keep_protected(entry: FileEntry, old: FileEntry) -> FileEntry:
    """``entry`` with the volume and disclosure ``old`` has: a later batch may bring a new scan
    of a document, never move it between 正卷 and 副卷 or change whether it is disclosed; only
    an archivist's approved change does (``archive.case_changes``)."""
    kept = entry.document.model_copy(update={"volume": old.document.volume,
                                             "disclosable": old.document.disclosable})
    return entry.model_copy(update={"document": kept})


def keep_parties(case: CaseMeta, base: CaseMeta) -> CaseMeta:
    """The batch's description of the case with the parties already archived: who may read a
    case changes only by an archivist's approved change."""
    return case.model_copy(update={"parties": base.parties})


def _add_submitted(builder: _Builder, document: SubmittedDocument, batch_id: str,
                   old: DocumentRecord | None) -> DocumentRecord:
    """Copy one submitted document's files into the bag, checking the original against the
    manifest; a document the base holds keeps its volume and disclosure."""
    entry, ocr = document.entry, document.ocr
    entry = keep_protected(entry, old.entry) if old is not None else entry
    original = builder.copy(ocr.original, original_path(entry), entry.media_type)
    if original.size != entry.byte_size:
        raise InputRejected("E114", str(ocr.original), expected=entry.byte_size, found=original.size)
    if original.sha256 != entry.sha256.lower():
        raise InputRejected("E113", str(ocr.original), expected=entry.sha256, found=original.sha256)
    pdfa = builder.copy(ocr.pdfa, pdfa_path(entry), "application/pdf") if ocr.pdfa else None
    text = tuple(
        TextPage(page=p.page, file=builder.write(text_path(entry, p.page), p.text.encode("utf-8"),
                                                 "text/plain", ("Plain text", "UTF-8")))
        for p in ocr.pages)
    return DocumentRecord(
        document_id=document.document_id, batch_id=batch_id, entry=entry,
        disclosable=entry.document.disclosable and entry.document.volume == "正卷",
        ocr=_ocr_record(document),
        pages=tuple(PageRecord(page=p.page, confidence=p.confidence, rotation=p.rotation,
                               flags=tuple(p.flags), unsure=p.unsure) for p in ocr.pages),
        original=original, pdfa=pdfa, text=text, version_added=0, version_updated=0)


def _add_kept(builder: _Builder, base_bag: Path, doc: DocumentRecord) -> DocumentRecord:
    """Copy a document of the base version unchanged (re-hashing it on the way)."""
    original = builder.copy(base_bag / doc.original.path, doc.original.path, doc.original.media_type)
    pdfa = builder.copy(base_bag / doc.pdfa.path, doc.pdfa.path, doc.pdfa.media_type) if doc.pdfa else None
    text = tuple(TextPage(page=t.page, file=builder.copy(base_bag / t.file.path, t.file.path, "text/plain",
                                                         (t.file.format_name, t.file.format_version)))
                 for t in doc.text)
    return doc.model_copy(update={"original": original, "pdfa": pdfa, "text": text})


def _with_versions(doc: DocumentRecord, old: DocumentRecord | None, version: int) -> DocumentRecord:
    if old is not None and old.content_key() == doc.content_key():
        return doc.model_copy(update={"version_added": old.version_added,
                                      "version_updated": old.version_updated})
    added = old.version_added if old is not None else version
    return doc.model_copy(update={"version_added": added, "version_updated": version})


def volume_order(doc: DocumentRecord) -> tuple[bool, int, str]:
    return (doc.entry.document.volume != "正卷", doc.entry.document.seq, doc.entry.path)


def _raw_manifest(submission: CaseSubmission) -> bytes:
    """The station's manifest.json bytes when they can be found next to the scans, else the model."""
    for document in submission.documents:
        depth = len(safe_relative(document.entry.path).parts)
        candidate = document.ocr.original.parents[depth - 1] / MANIFEST_NAME
        if candidate.is_file():
            raw = candidate.read_bytes()
            if BatchManifest.model_validate_json(raw) == submission.manifest:
                return raw
    return submission.manifest.model_dump_json(indent=2).encode("utf-8")


def _add_submissions(builder: _Builder, submission: CaseSubmission,
                     base: CaseRecord | None, base_bag: Path | None) -> tuple[SubmissionRecord, ...]:
    manifest = submission.manifest
    kept = [s for s in (base.submissions if base else ()) if s.batch_id != manifest.batch_id]
    records = [_keep_submission(builder, s, base_bag) for s in kept if base_bag]
    rel = f"{METADATA}/submissions/{safe_relative(manifest.batch_id)}/{MANIFEST_NAME}"
    stored = builder.write(rel, _raw_manifest(submission), "application/json", ("JSON", ""))
    same = next((s for s in (base.submissions if base else ()) if s.batch_id == manifest.batch_id
                 and s.manifest.sha256 == stored.sha256), None)
    signature, source = _signature_of(builder, submission, rel, same, base_bag)
    records.append(SubmissionRecord(
        batch_id=manifest.batch_id, station_id=manifest.station_id, operator_id=manifest.operator.id,
        operator_name=manifest.operator.name, archive=manifest.archive,
        scan_started=manifest.scan_started, scan_finished=manifest.scan_finished, manifest=stored,
        signature=signature, source=source))
    return tuple(sorted(records, key=lambda s: (s.scan_started, s.batch_id)))


def _keep_submission(builder: _Builder, record: SubmissionRecord, base_bag: Path) -> SubmissionRecord:
    """An earlier submission's manifest (and the station's signature over it) copied unchanged."""
    copied = {"manifest": builder.copy(base_bag / record.manifest.path, record.manifest.path, "application/json",
                                       ("JSON", ""))}
    if record.signature is not None:
        copied["signature"] = builder.copy(base_bag / record.signature.path, record.signature.path,
                                           "application/pkcs7-signature", ("CMS", ""))
    return record.model_copy(update=copied)


def _signature_of(builder: _Builder, submission: CaseSubmission, manifest_rel: str, same: SubmissionRecord | None,
                  base_bag: Path | None) -> tuple[StoredFile | None, str]:
    """The station's signature beside the stored manifest: the submitted one, or the one an
    earlier version kept for these very manifest bytes (an OCR retry re-submits a batch)."""
    rel = f"{manifest_rel}.p7s"
    if submission.manifest_signature is not None:
        stored = builder.write(rel, submission.manifest_signature, "application/pkcs7-signature", ("CMS", ""))
        return stored, submission.source
    if same is not None and same.signature is not None and base_bag is not None:
        return builder.copy(base_bag / same.signature.path, rel, "application/pkcs7-signature", ("CMS", "")), same.source
    return None, submission.source or (same.source if same else "")


def ingestion_time(submission: CaseSubmission) -> datetime:
    """The newest time among the submission's inputs: the ingestion event's time, never now()."""
    times = [submission.manifest.scan_finished]
    times += [d.ocr.finished_at for d in submission.documents]
    times += [datetime.fromisoformat(str(e["event_time"])) for e in submission.events if e.get("event_time")]
    return max(times, key=lambda t: t.timestamp())


def _documents(builder: _Builder, submission: CaseSubmission, base: CaseRecord | None,
               base_bag: Path | None) -> tuple[DocumentRecord, ...]:
    version = (base.aip_version if base else 0) + 1
    old = {d.entry.path: d for d in base.documents} if base else {}
    new = {d.entry.path: _add_submitted(builder, d, submission.manifest.batch_id, old.get(d.entry.path))
           for d in submission.documents}
    kept = {p: _add_kept(builder, base_bag, d) for p, d in old.items() if p not in new and base_bag}
    new = {p: _with_versions(builder.identified_document(d), old.get(p), version) for p, d in new.items()}
    kept = {p: builder.identified_document(d) for p, d in kept.items()}
    return tuple(sorted([*kept.values(), *new.values()], key=volume_order))


def _case_record(submission: CaseSubmission, base: CaseRecord | None,
                 documents: tuple[DocumentRecord, ...],
                 submissions: tuple[SubmissionRecord, ...]) -> CaseRecord:
    ingested = ingestion_time(submission)
    return CaseRecord(
        aip_id=submission.aip_id, case_number=submission.case.case_number,
        aip_version=max(d.version_updated for d in documents),
        archival_code=base.archival_code if base else None,
        archived_on=base.archived_on if base else ingested.date(), ingested_at=ingested,
        case=keep_parties(submission.case, base.case) if base else submission.case,
        submissions=submissions, documents=documents,
        owner_station=base.owner() if base else submission.manifest.station_id)


def _bag_info(record: CaseRecord, submission: CaseSubmission, software: str, agent: str) -> list[tuple[str, str]]:
    info = [("Source-Organization", submission.manifest.archive),
            ("External-Identifier", record.aip_id),
            ("External-Description", f"卷宗 {record.case_number}"),
            ("Internal-Sender-Identifier", submission.manifest.batch_id),
            ("Bag-Group-Identifier", record.case_number),
            ("Bagging-Date", date.today().isoformat()),
            ("Bag-Software-Agent", software)]
    return info + ([("Contact-Name", agent)] if agent else [])


def _check_inputs(submission: CaseSubmission, work_dir: Path, base_bag: Path | None) -> Path:
    target = work_dir / submission.aip_id
    if target.exists():
        raise JuanzongError("E431", str(target), reason="the work folder already holds a bag of this AIP")
    if base_bag is not None and not (base_bag / CASE_JSON).is_file():
        raise JuanzongError("E431", str(base_bag), reason="base bag has no data/metadata/case.json")
    if not submission.documents:
        raise JuanzongError("E431", submission.case.case_number, reason="the submission has no documents")
    return target


def _write_bag_contents(bag_dir: Path, submission: CaseSubmission, base_bag: Path | None,
                        software: str, agent: str) -> CaseRecord:
    builder = _Builder(bag_dir)
    base = read_case_record(base_bag) if base_bag else None
    if base is not None and base.owner() != submission.manifest.station_id:
        raise InputRejected("E158", submission.case.case_number, expected=base.owner(),
                            found=submission.case.case_number, change="-")
    submissions = _add_submissions(builder, submission, base, base_bag)
    reports = _keep_reports(builder, base_bag)
    documents = _documents(builder, submission, base, base_bag)  # identifies every file so far
    submissions = tuple(s.model_copy(update={"manifest": builder.identified(s.manifest),
                                             "signature": builder.identified(s.signature) if s.signature else None})
                        for s in submissions)
    reports = [builder.identified(r) for r in reports]
    record = _case_record(submission, base, documents, submissions)
    case_json = builder.identified(builder.write(CASE_JSON, record.model_dump_json(indent=2).encode("utf-8"),
                                                 "application/json", ("JSON", "")))
    old_premis = (base_bag / PREMIS_XML) if base_bag else None
    premis_xml = builder.write(PREMIS_XML, premis.premis_document(
        record, submission, case_json, old_premis, software=software, agent=agent),
        "application/xml", ("PREMIS", "3.0"))
    metadata = [*[f for s in record.submissions for f in s.files()], *reports, case_json, premis_xml]
    created = mets.created_date(base_bag / METS_XML) if base_bag else None
    builder.write(METS_XML, mets.mets_document(record, metadata, software=software, agent=agent, created=created),
                  "application/xml", ("METS", "1.12"))
    write_bag(bag_dir, builder.payload, _bag_info(record, submission, software, agent))
    return record


def _keep_reports(builder: _Builder, base_bag: Path | None) -> list[StoredFile]:
    """四性检测 reports of earlier versions (``check4-*.json``) stay in every later version."""
    if base_bag is None:
        return []
    return [builder.copy(path, f"{METADATA}/{path.name}", "application/json", ("JSON", ""))
            for path in sorted((base_bag / METADATA).glob("check4-*.json"))]


def build_aip(submission: CaseSubmission, work_dir: Path, *, base_bag: Path | None = None,
              software: str = "juanzong", agent: str = "") -> BuiltAip:
    """Build the case's next AIP version as an unsigned bag in ``work_dir/<aip_id>``.

    With ``base_bag`` (the head version checked out) the bag holds every document of the base
    plus the submission's, a submitted file replacing the base's file of the same manifest path.
    Inputs are copied, never moved, linked or edited. A half-built bag is removed on failure.
    """
    target = _check_inputs(submission, work_dir, base_bag)
    building = work_dir / f".{submission.aip_id}.building"
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    try:
        record = _write_bag_contents(building, submission, base_bag, software, agent)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    building.rename(target)
    return BuiltAip(aip_id=record.aip_id, case_number=record.case_number, bag_dir=target,
                    payload_digest=payload_digest(target))
