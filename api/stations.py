"""The station API: scanning stations upload batches and read their verdicts.

    POST /batches                              a whole batch as a zip (streamed), queued
    POST /batches/{batch_id}/files/{path}      one file, whole or as a Content-Range chunk
    POST /batches/{batch_id}/commit            the manifest; every file must be whole; queued
    GET  /batches/{batch_id}                   status, what was received, problems per file
    GET  /batches                              this station's batches

A station authenticates with ``X-API-Key``; only the key's SHA-256 is stored
(``Principal.api_key_hash``). Each station's uploads live under its own folder of the intake
area, so another station's batch id is simply "not found"; a manifest naming another station
is refused (E156) before anything is queued, since the catalog files the batch under the
manifest's station. Ingest runs in a background
worker; at startup, batches admitted before the last stop but never settled are queued
again. Every error is JSON ``{"error": {code, path, message, problems}}`` with a stable code.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Depends, Header, Request
from fastapi.security import APIKeyHeader
from pydantic import BaseModel
from sqlmodel import select

from config import Settings
from ingest._move import move_tree
from ingest.manifest import MANIFEST_NAME
from ingest.intake import (
    DEFAULT_MAX_UPLOAD_BYTES,
    DEFAULT_MAX_ZIP_RATIO,
    MAX_MANIFEST_BYTES,
    FileProgress,
    StagedBatch,
    Submit,
    ZipLimits,
    admit,
    batch_root_of,
    commit_staged,
    extract_zip,
    is_safe_batch_id,
    manifest_claims,
    parse_content_range,
    pending_batches,
    receive_stream,
    refuse,
    run_submission,
    write_chunk,
    zip_name_encoding,
)
from api._http import JsonErrorRoute
from schemas.errors import InputRejected, NotFound, public_text

_BUSY = ("queued", "processing", "error")


class ErrorBody(BaseModel):
    error: dict[str, Any]


class BatchStatus(BaseModel):
    batch_id: str
    status: str
    files: list[FileProgress] = []
    problems: list[dict] = []
    problems_by_file: dict[str, list[dict]] = {}
    aips: list[dict] = []
    quarantine_id: str | None = None
    error: dict | None = None
    name_encoding: str | None = None  # a zip's member names were read as utf-8 or gb18030


# --- keys ----------------------------------------------------------------------------------

def new_api_key() -> str:
    """A random 32-byte token, URL-safe; shown to the station once, never stored."""
    return secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def add_station(catalog_url: str, name: str, *, court: str = "", certificate: x509.Certificate | None = None) -> str:
    """Create the station and its principal, with the certificate it signs manifests with;
    return the API key (the only time it exists)."""
    from archive.catalog import session
    from archive.catalog.models import Principal, Station

    if not is_safe_batch_id(name):
        raise InputRejected("E149", name, reason="station names use letters, digits, . _ -")
    key = new_api_key()
    with session(catalog_url) as s:
        if s.get(Station, name) is not None or s.get(Principal, f"station:{name}") is not None:
            raise InputRejected("E154", name)
        s.add(Principal(id=f"station:{name}", kind="station", name=name, roles=["station"],
                        api_key_hash=hash_api_key(key)))
        s.flush()
        s.add(Station(id=name, court=court, principal_id=f"station:{name}"))
        s.commit()
    if certificate is not None:
        certify_station(catalog_url, name, certificate)
    return key


def certify_station(catalog_url: str, name: str, certificate: x509.Certificate) -> None:
    """Register a certificate for an existing station: from now on its manifests must be signed."""
    from archive.catalog import session
    from archive.catalog.models import Station
    from archive.catalog.record import register_station_certificate

    with session(catalog_url) as s:
        if s.get(Station, name) is None:
            raise NotFound("E185", name)
        der = certificate.public_bytes(serialization.Encoding.DER)
        register_station_certificate(s, name, hashlib.sha256(der).hexdigest(), certificate.subject.rfc4514_string(),
                                     certificate.public_bytes(serialization.Encoding.PEM).decode(),
                                     certificate.not_valid_after_utc)
        s.commit()


def check_station(claimed: str | None, station: str) -> None:
    """Refuse a manifest that names another station (E156). An unreadable or missing
    ``station_id`` is left to manifest validation, which reports it with its JSON path."""
    if claimed is not None and claimed != station:
        raise refuse("E156", "manifest.json", expected=station, found=claimed)


def check_batch_prefix(batch_id: str, station: str) -> None:
    """Batch ids are one namespace in the catalog: a station may only use ids that begin with
    its own name and a hyphen, so no station can take (and so block) another's next batch id."""
    if not batch_id.startswith(f"{station}-"):
        raise InputRejected("E157", batch_id[:200], expected=f"{station}-", found=batch_id[:200])


def station_of_key(catalog_url: str, key: str | None) -> str:
    """The station id a key belongs to, or E148."""
    from archive.catalog import session
    from archive.catalog.models import Principal, Station
    from archive.catalog.record import station_certificates

    if not key:
        raise InputRejected("E148", "X-API-Key")
    with session(catalog_url) as s:
        principal = s.exec(select(Principal).where(Principal.api_key_hash == hash_api_key(key),
                                                   Principal.kind == "station")).first()
        station = principal and s.exec(select(Station).where(
            Station.principal_id == principal.id)).first()
        certified = station and station_certificates(s, station.id)
    if not station:
        raise InputRejected("E148", "X-API-Key")
    if not certified:
        raise InputRejected("E183", "X-API-Key", station=station.id)
    return station.id


# --- the router ----------------------------------------------------------------------------

_ZIP_BODY = {"requestBody": {"required": True, "content": {
    "application/zip": {"schema": {"type": "string", "format": "binary"}}}}}
_FILE_BODY = {"requestBody": {"required": True, "content": {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}
_MANIFEST_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "object",
                                    "description": "manifest.json (schemas/manifest.schema.json)"}}}}}
_ERRORS = {code: {"model": ErrorBody} for code in (401, 404, 409, 413, 422)}


class _Api:
    """State shared by the routes of one router: settings, limits and the ingest worker."""

    def __init__(self, settings: Settings, submit: Submit, *, max_upload_bytes: int,
                 max_zip_ratio: float, workers: int) -> None:
        self.settings, self.submit = settings, submit
        self.max_upload = max_upload_bytes
        self.zip_limits = ZipLimits(max_total_bytes=max_upload_bytes, max_ratio=max_zip_ratio)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="juanzong-ingest")
        from flows._runtime import claim_locks  # the catalog's locks; imported when a router is made

        self.locks = claim_locks(settings)

    def staged(self, station: str, batch_id: str) -> StagedBatch:
        """The station's upload of a new or continuing batch: its id must be the station's."""
        if not is_safe_batch_id(batch_id):
            raise InputRejected("E149", batch_id[:200],
                                reason="use 1-128 letters, digits, '.', '_' or '-'")
        check_batch_prefix(batch_id, station)
        return StagedBatch.of(self.settings.intake_root, station, batch_id)

    def existing(self, station: str, batch_id: str) -> StagedBatch:
        """One of the station's batches; any other id, another station's included, is not found."""
        staged = StagedBatch.of(self.settings.intake_root, station, batch_id)
        if not is_safe_batch_id(batch_id) or not staged.exists():
            raise NotFound("E147", batch_id[:200])
        return staged

    def open_round(self, staged: StagedBatch) -> None:
        """Refuse while a batch is being ingested; after a verdict, start a fresh upload."""
        result = staged.read_result()
        if result is not None and result.status in _BUSY:
            raise InputRejected("E150", staged.root.name, found=result.status)
        if result is not None:
            staged.reset()
        staged.root.mkdir(parents=True, exist_ok=True)

    def queue(self, files_dir: Path, staged: StagedBatch, station: str, *,
              name_encoding: str | None = None) -> BatchStatus:
        batch_id = staged.root.name
        dest = admit(files_dir, self.settings.intake_root, result_path=staged.result_path,
                     batch_name=batch_id, source=f"api:{station}", station_id=station,
                     name_encoding=name_encoding)
        self.pool.submit(run_submission, dest, self.submit,
                         quarantine_root=self.settings.quarantine_root, locks=self.locks)
        return self.status(staged)

    def resume_pending(self) -> None:
        """At startup: batches admitted before the last stop but never settled (the API or the
        machine went down mid-ingest) are queued again; the flow resumes them without duplicates."""
        for batch_dir in pending_batches(self.settings.intake_root):
            self.pool.submit(run_submission, batch_dir, self.submit,
                             quarantine_root=self.settings.quarantine_root, locks=self.locks)

    def status(self, staged: StagedBatch) -> BatchStatus:
        result = staged.read_result()
        if result is None:
            return BatchStatus(batch_id=staged.root.name, status="uploading",
                               files=staged.all_progress())
        problems = [{**p, "message": public_text(str(p.get("message", "")))} for p in result.problems]
        by_file: dict[str, list[dict]] = {}
        for p in problems:
            by_file.setdefault(str(p.get("path", "")), []).append(p)
        return BatchStatus(batch_id=staged.root.name, status=result.status,
                           problems=problems, problems_by_file=by_file, aips=result.aips,
                           quarantine_id=result.quarantine_id, error=result.error,
                           name_encoding=result.name_encoding)

    async def receive_zip(self, request: Request, station: str) -> BatchStatus:
        uploads = self.settings.intake_root / "stations" / station / ".uploads"
        uploads.mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(8)
        spool, unpacked = uploads / f"{token}.zip", uploads / token
        try:
            with spool.open("wb") as out:
                await receive_stream(request.stream(), out, limit=self.max_upload, path="upload.zip")
            extract_zip(spool, unpacked, self.zip_limits, label="upload.zip")
            return self.stage_unpacked(batch_root_of(unpacked), unpacked, station,
                                       name_encoding=zip_name_encoding(spool))
        finally:
            spool.unlink(missing_ok=True)
            shutil.rmtree(unpacked, ignore_errors=True)

    def stage_unpacked(self, root: Path, unpacked: Path, station: str, *,
                       name_encoding: str | None = None) -> BatchStatus:
        manifest = root / MANIFEST_NAME
        claimed_station, claimed_batch = (manifest_claims(manifest.read_bytes())
                                          if manifest.is_file() else (None, None))
        check_station(claimed_station, station)
        batch_id = claimed_batch or (root.name if root != unpacked else "")
        if not batch_id:
            raise refuse("E149", "upload.zip", reason="no manifest.json batch_id and no batch folder")
        staged = self.staged(station, batch_id)
        self.open_round(staged)
        staged.reset()
        move_tree(root, staged.files_dir)
        return self.queue(staged.files_dir, staged, station, name_encoding=name_encoding)


def station_router(settings: Settings, submit: Submit, *,
                   max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
                   max_zip_ratio: float = DEFAULT_MAX_ZIP_RATIO, workers: int = 1) -> APIRouter:
    """The station routes; ``submit(batch_dir)`` ingests one admitted batch (the flow)."""
    api = _Api(settings, submit, max_upload_bytes=max_upload_bytes, max_zip_ratio=max_zip_ratio,
               workers=workers)
    key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                              description="The station's API key (`juanzong stations add`).")

    def station(key: str | None = Depends(key_header)) -> str:
        return station_of_key(settings.catalog_url, key)

    router = APIRouter(tags=["stations"], route_class=JsonErrorRoute, responses=_ERRORS)
    router.add_event_handler("startup", api.resume_pending)

    @router.post("/batches", status_code=202, response_model=BatchStatus, openapi_extra=_ZIP_BODY)
    async def upload_zip(request: Request, station_id: str = Depends(station)) -> BatchStatus:
        """Upload a whole batch as a zip: manifest.json at its root or in one top folder."""
        return await api.receive_zip(request, station_id)

    @router.post("/batches/{batch_id}/files/{path:path}", response_model=FileProgress,
                 openapi_extra=_FILE_BODY)
    async def upload_file(batch_id: str, path: str, request: Request,
                          content_range: str | None = Header(None, alias="Content-Range"),
                          station_id: str = Depends(station)) -> FileProgress:
        """Upload one file, whole or one chunk of it (`Content-Range: bytes start-end/total`)."""
        staged = api.staged(station_id, batch_id)
        api.open_round(staged)
        rng = parse_content_range(content_range, path[:300], limit=api.max_upload)
        return await write_chunk(staged, path, rng, request.stream(), limit=api.max_upload)

    @router.post("/batches/{batch_id}/commit", status_code=202, response_model=BatchStatus,
                 openapi_extra=_MANIFEST_BODY)
    async def commit(batch_id: str, request: Request,
                     station_id: str = Depends(station)) -> BatchStatus:
        """Send the manifest once every file is whole; the batch is queued for ingest."""
        staged = api.existing(station_id, batch_id)
        api.open_round(staged)
        body = bytearray()
        async for block in request.stream():
            body += block
            if len(body) > MAX_MANIFEST_BYTES:
                raise refuse("E140", "manifest.json", expected=MAX_MANIFEST_BYTES, found=len(body))
        claimed_station, claimed_batch = manifest_claims(bytes(body))
        check_station(claimed_station, station_id)
        if claimed_batch is not None and claimed_batch != batch_id:
            raise refuse("E149", "manifest.json",
                          reason=f"batch_id {claimed_batch[:200]} differs from this upload's {batch_id}")
        return api.queue(commit_staged(staged, bytes(body)), staged, station_id)

    @router.get("/batches/{batch_id}", response_model=BatchStatus)
    def batch_status(batch_id: str, station_id: str = Depends(station)) -> BatchStatus:
        """What was received, the verdict, and every problem by file."""
        return api.status(api.existing(station_id, batch_id))

    @router.get("/batches", response_model=list[BatchStatus])
    def list_batches(station_id: str = Depends(station)) -> list[BatchStatus]:
        """This station's batches, newest verdicts included."""
        folder = settings.intake_root / "stations" / station_id
        names = sorted(p.name for p in folder.iterdir() if p.is_dir() and is_safe_batch_id(p.name)) \
            if folder.is_dir() else []
        return [api.status(api.existing(station_id, n)) for n in names]

    return router

