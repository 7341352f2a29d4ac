"""Catalog tables (SQLModel). The storage root is the truth; the catalog can be rebuilt from it.

Every change to these tables goes through an Alembic migration in ``migrations/``,
which runs unchanged on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _json(default: Any = None) -> Any:
    return Field(default_factory=lambda: default() if callable(default) else default,
                 sa_column=Column(JSON, nullable=True))


class Principal(SQLModel, table=True):
    """Anyone who acts on the archive: a station, an archivist, an auditor, a reader, a service."""

    id: str = Field(primary_key=True, max_length=128)
    kind: str = Field(index=True, max_length=32)  # station | archivist | auditor | reader | service
    name: str = Field(max_length=200)
    roles: list[str] = _json(list)
    api_key_hash: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(default_factory=utcnow)


class Station(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    court: str = Field(default="", max_length=200)
    principal_id: str | None = Field(default=None, foreign_key="principal.id")
    created_at: datetime = Field(default_factory=utcnow)


class StationCertificate(SQLModel, table=True):
    """A certificate a station signs its manifests with (``juanzong stations add NAME --cert``)."""

    fingerprint: str = Field(primary_key=True, max_length=64)  # SHA-256 of the DER
    station_id: str = Field(primary_key=True, foreign_key="station.id", index=True, max_length=64)
    subject: str
    pem: str
    not_after: datetime
    added_at: datetime = Field(default_factory=utcnow)


class Batch(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=128)
    station_id: str = Field(index=True, max_length=64)
    status: str = Field(index=True, max_length=32)  # received | archived | rejected | partial
    content_digest: str = Field(max_length=64)
    source_dir: str = Field(default="")
    manifest: dict = _json(dict)
    problems: list[dict] = _json(list)
    received_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class SubmittedFile(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("batch_id", "path"),)
    id: int | None = Field(default=None, primary_key=True)
    batch_id: str = Field(foreign_key="batch.id", index=True, max_length=128)
    path: str
    sha256: str = Field(index=True, max_length=64)
    byte_size: int
    media_type: str = Field(max_length=100)
    page_count: int
    status: str = Field(default="received", max_length=32)


class Case(SQLModel, table=True):
    case_number: str = Field(primary_key=True, max_length=100)
    court: str = Field(max_length=200)
    court_code: str = Field(max_length=32)
    case_type: str = Field(max_length=32)
    procedure: str = Field(max_length=32)
    cause_of_action: str = Field(max_length=200)
    parties: list[dict] = _json(list)
    judge: str = Field(default="", max_length=100)
    panel: list[str] = _json(list)
    clerk: str = Field(default="", max_length=100)
    filing_date: date | None = None
    closing_date: date | None = None
    retention_period: str = Field(default="", max_length=16)
    security_class: str = Field(default="公开", max_length=16)
    effective_date: date | None = None  # 生效日期: 保管期限 counts from the next year
    status: str = Field(default="in_progress", max_length=32)  # in_progress | closed | archived | disposed
    archival_code: str | None = Field(default=None, unique=True, max_length=100)  # 档号
    aip_id: str | None = Field(default=None, max_length=64)


class Aip(SQLModel, table=True):
    aip_id: str = Field(primary_key=True, max_length=64)
    case_number: str = Field(foreign_key="case.case_number", unique=True, max_length=100)
    ocfl_id: str = Field(unique=True, max_length=200)
    head_version: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    last_checked_at: datetime | None = None


class AipVersion(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("aip_id", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    aip_id: str = Field(foreign_key="aip.aip_id", index=True, max_length=64)
    version: int
    batch_id: str | None = Field(default=None, max_length=128)
    payload_digest: str = Field(max_length=128)  # digest of the payload manifest: same content, same digest
    tagmanifest_sha256: str = Field(max_length=64)
    certificate_fingerprint: str = Field(default="", max_length=64)
    message: str = Field(default="")
    created_at: datetime = Field(default_factory=utcnow)


class Certificate(SQLModel, table=True):
    fingerprint: str = Field(primary_key=True, max_length=64)  # SHA-256 of the DER
    purpose: str = Field(max_length=32)  # aip-signing | dissemination
    subject: str
    pem: str
    not_before: datetime
    not_after: datetime


class Document(SQLModel, table=True):
    document_id: str = Field(primary_key=True, max_length=64)
    aip_id: str = Field(foreign_key="aip.aip_id", index=True, max_length=64)
    case_number: str = Field(index=True, max_length=100)
    source_path: str
    sha256: str = Field(index=True, max_length=64)
    title: str = Field(max_length=200)
    doc_type: str = Field(max_length=64)
    volume: str = Field(max_length=8)
    disclosable: bool
    seq: int
    page_count: int
    batch_id: str | None = Field(default=None, max_length=128)
    ocr_status: str = Field(default="done", max_length=32)  # done | skipped_has_text | failed


class Page(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("document_id", "page"),)
    id: int | None = Field(default=None, primary_key=True)
    document_id: str = Field(foreign_key="document.document_id", index=True, max_length=64)
    page: int
    text: str = ""
    confidence: float | None = None
    flags: list[str] = _json(list)  # blank | rotated | low_confidence | ocr_failed
    unsure: list[dict] = _json(list)  # [{start, end, confidence}]: text read under the review threshold
    reviewed: bool = False


class PreservationEvent(SQLModel, table=True):
    """PREMIS-shaped: what happened, when, by which agent, with which outcome."""

    id: str = Field(primary_key=True, max_length=64)
    event_type: str = Field(index=True, max_length=64)
    event_time: datetime = Field(default_factory=utcnow)
    agent: str = Field(max_length=200)
    outcome: str = Field(max_length=32)  # success | failure | warning
    detail: str = ""
    aip_id: str | None = Field(default=None, index=True, max_length=64)
    object_path: str | None = None


class AuditRun(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    mode: str = Field(max_length=32)
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    checked: int = 0
    ok: int = 0
    repaired: int = 0
    report_path: str | None = None


class AuditFinding(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="auditrun.id", index=True, max_length=64)
    aip_id: str = Field(max_length=64)
    path: str
    kind: str = Field(max_length=32)  # missing | size | digest | signature | inventory | extra
    expected: str | None = None
    actual: str | None = None
    repaired: bool = False


class LawyerAuthorisation(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    case_number: str = Field(index=True, max_length=100)
    lawyer_name: str = Field(max_length=100)
    licence_number: str = Field(max_length=64)
    party_name: str = Field(max_length=200)
    valid_until: date | None = None


class DisseminationRequest(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    case_number: str = Field(index=True, max_length=100)
    requester_name: str = Field(max_length=100)
    requester_id: str = Field(max_length=64)  # masked, for display
    requester_id_hmac: str | None = Field(default=None, max_length=64)  # keyed hash of the whole ID; None before 0007
    role: str = Field(max_length=32)
    licence_number: str = Field(default="", max_length=64)  # a lawyer's 执业证号, to match their searches
    status: str = Field(index=True, max_length=32)  # issued | pending_approval | refused | approved | withdrawn
    reason: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str | None = Field(default=None, max_length=128)  # the principal who asked (four eyes)
    decided_by: str | None = Field(default=None, max_length=128)
    decided_at: datetime | None = None


class IssuedCopy(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(foreign_key="disseminationrequest.id", index=True, max_length=64)
    document_id: str = Field(max_length=64)
    path: str
    sha256: str = Field(max_length=64)
    trace_id: str = Field(default="", max_length=64)
    issued_at: datetime = Field(default_factory=utcnow)


class IndexQueueItem(SQLModel, table=True):
    """An AIP version waiting to be (re)indexed because the index was unavailable."""

    aip_id: str = Field(primary_key=True, max_length=64)
    version: int
    attempts: int = 0
    last_error: str = ""
    enqueued_at: datetime = Field(default_factory=utcnow)


class Notification(SQLModel, table=True):
    """Outbox: a message to a requester, written with the decision; a sender marks it sent."""

    id: str = Field(primary_key=True, max_length=64)
    request_id: str = Field(index=True, max_length=64)
    recipient: str = Field(max_length=200)
    channel: str = Field(default="outbox", max_length=32)  # outbox | sms | ...
    subject: str = Field(max_length=200)
    body: str = ""
    status: str = Field(default="pending", index=True, max_length=32)  # pending | sent
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None


class Appraisal(SQLModel, table=True):
    """A 鉴定 decision on a case at or near its due date: keep it longer, or dispose of it.
    It takes effect only when a second person approves it."""

    id: str = Field(primary_key=True, max_length=64)
    case_number: str = Field(foreign_key="case.case_number", index=True, max_length=100)
    decision: str = Field(max_length=16)  # keep | dispose
    keep_years: int | None = None  # keep: years added to the due date
    reason: str = ""
    appraised_by: str = Field(max_length=128)
    appraised_at: datetime = Field(default_factory=utcnow)
    status: str = Field(default="pending", index=True, max_length=16)  # pending | approved | executed | superseded
    approved_by: str | None = Field(default=None, max_length=128)
    approved_at: datetime | None = None


class LegalHold(SQLModel, table=True):
    """A hold (诉讼保全, 审查, 再审) that blocks disposal until released."""

    id: str = Field(primary_key=True, max_length=64)
    case_number: str = Field(foreign_key="case.case_number", index=True, max_length=100)
    reason: str = ""
    placed_by: str = Field(max_length=128)
    placed_at: datetime = Field(default_factory=utcnow)
    released_by: str | None = Field(default=None, max_length=128)
    released_at: datetime | None = None


class Tombstone(SQLModel, table=True):
    """What remains of a disposed AIP: the signed statement of what went, when, who and why."""

    aip_id: str = Field(primary_key=True, max_length=64)
    case_number: str = Field(index=True, max_length=100)
    archival_code: str | None = Field(default=None, max_length=100)
    appraisal_id: str = Field(max_length=64)
    disposed_at: datetime = Field(default_factory=utcnow)
    body: str  # canonical JSON, as signed
    signature: str  # base64 detached CMS over ``body``


class LogHead(SQLModel, table=True):
    """The catalog's own record of each signed head of the preservation log: a log folder whose
    tail and head files were removed together still disagrees with these rows."""

    day: str = Field(primary_key=True, max_length=10)  # YYYY-MM-DD
    seq: int
    digest: str = Field(max_length=64)
    signed_at: datetime = Field(default_factory=utcnow)


class ConsoleUser(SQLModel, table=True):
    """A person who signs in to the console. An officer role (三员) is exclusive: such a user
    holds that one role and nothing else (``archive.accounts``)."""

    username: str = Field(primary_key=True, max_length=64)
    display_name: str = Field(default="", max_length=100)
    roles: list[str] = _json(list)  # empty until the security administrator assigns some
    password_hash: str = Field(max_length=256)
    failed_logins: int = 0
    locked: bool = False
    disabled: bool = False
    created_by: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None


class ConsoleSession(SQLModel, table=True):
    """A signed-in browser: only the SHA-256 of its cookie is stored; ``csrf`` guards its forms."""

    token_hash: str = Field(primary_key=True, max_length=64)
    username: str = Field(foreign_key="consoleuser.username", index=True, max_length=64)
    csrf: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


class CaseChange(SQLModel, table=True):
    """A change a batch asked for that only an archivist may make (a document's volume or
    disclosure, the parties, the owning station): held here, pending, until an archivist
    approves it (then a metadata-only AIP version applies it) or refuses it."""

    id: str = Field(primary_key=True, max_length=64)  # uuid5 of case, kind, document and batch
    case_number: str = Field(index=True, max_length=100)
    kind: str = Field(max_length=16)  # owner | volume | disclosable | parties
    document_path: str = Field(default="")
    old: dict = _json(dict)  # {"value": ...} as archived when the batch came
    new: dict = _json(dict)  # {"value": ...} as the batch asks
    batch_id: str = Field(max_length=128)
    station_id: str = Field(max_length=64)
    status: str = Field(default="pending", index=True, max_length=16)  # pending | approved | refused
    created_at: datetime = Field(default_factory=utcnow)
    decided_by: str | None = Field(default=None, max_length=128)
    decided_at: datetime | None = None
    reason: str = ""
    version: int | None = None  # the AIP version that applied an approved change


class StorageRoot(SQLModel, table=True):
    """The identity of a storage root this catalog describes (``archive.storage.identity``):
    a process pointed at another root is refused instead of being handed an empty one."""

    role: str = Field(primary_key=True, max_length=32)  # primary | replica
    root_id: str = Field(max_length=64)
    first_path: str  # where the root was when recorded; named in refusals
    recorded_at: datetime = Field(default_factory=utcnow)
