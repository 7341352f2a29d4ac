"""Virus check (DA/T 70 item 4-2): ClamAV scans every submitted file before anything else reads it.

No internet, here or in a court's network: the signatures come from a folder the court supplies
(``clamav_db``: ``.cvd``/``.cld`` as freshclam leaves them, or ``.ndb``/``.hdb``/… of its own).
With ``clamav_socket`` Juanzong asks that clamd; otherwise it starts its own on the folder
(state under ``$HOME/run/clamd``) and keeps it for later batches, restarting it when the folder changes.

With no database at all, nothing can be scanned, and Juanzong says so instead of refusing: each
file gets a PREMIS ``virus check`` event with outcome ``not performed`` and the batch a non-fatal
E193 per file, ``health`` turns not-ok, and the GD 四性检测 finds no passing event for item 4-2. An
auditor then sees exactly which files went unscanned (they can be checked later against the
archived bytes), and a station is not turned away for the archive's missing configuration.
``clamav_required`` makes it a refusal instead (fatal E193, the batch to quarantine).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from config.settings import Settings

from ingest._exec import clamd
from schemas.errors import Problem

ENGINE = "ClamAV"
SIGNATURE_SUFFIXES = {".cvd", ".cld", ".cud", ".ndb", ".hdb", ".hsb", ".mdb", ".msb", ".ldb", ".cdb",
                      ".yar", ".yara", ".ign2", ".fp", ".sfp", ".ndu", ".ldu", ".idb", ".pdb", ".wdb", ".ftm"}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class ScannerConfig(_Frozen):
    """Where the signatures are, which clamd to ask, and how old a database may get."""

    db_dir: Path | None = None
    socket: Path | None = None
    state_dir: Path
    max_age_days: int = 7
    required: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> ScannerConfig:
        return cls(db_dir=settings.clamav_db, socket=settings.clamav_socket, state_dir=settings.clamd_state,
                   max_age_days=settings.clamav_max_age_days, required=settings.clamav_required)


class DatabaseStatus(_Frozen):
    """What ``health`` and ``status`` show: engine, database version and age, and whether usable."""

    engine: str
    db_version: str
    db_age_days: float | None
    ok: bool
    reason: str = ""


class FileScan(_Frozen):
    """One file's virus check, as its PREMIS event needs it."""

    path: str  # relative to the batch folder
    outcome: str  # pass | fail | not performed
    signature: str = ""
    error: str = ""
    checked_at: datetime


class VirusReport(_Frozen):
    engine: str  # "ClamAV 1.4.6"
    db_version: str
    scans: tuple[FileScan, ...]

    def of(self, path: str) -> FileScan | None:
        return next((s for s in self.scans if s.path == path), None)


# ---- the signature database -------------------------------------------------------------------

def signature_files(db_dir: Path) -> list[Path]:
    return sorted(p for p in db_dir.iterdir() if p.is_file() and p.suffix.lower() in SIGNATURE_SUFFIXES)


def has_database(config: ScannerConfig) -> bool:
    return config.db_dir is not None and config.db_dir.is_dir() and bool(signature_files(config.db_dir))


def _cvd_header(path: Path) -> tuple[str, datetime] | None:
    """(version, build time) from a .cvd/.cld header:
    ``ClamAV-VDB:<date>:<version>:<signatures>:<level>:<md5>:<dsig>:<builder>:<unix time>``."""
    with path.open("rb") as handle:
        fields = handle.read(512).decode("ascii", "replace").split(":")
    if len(fields) < 3 or fields[0] != "ClamAV-VDB":
        return None
    try:
        built = datetime.fromtimestamp(int(fields[8].strip("\0 ")), timezone.utc)
    except (IndexError, ValueError):
        try:
            built = parsedate_to_datetime(fields[1].replace("-", ":", 1))
        except (TypeError, ValueError):
            built = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
    return fields[2], built


def _fingerprint(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:12]


def _version_and_time(files: list[Path]) -> tuple[str, datetime]:
    """Official databases name their versions (``daily:27123 main:62``); a court's own files are
    named by a digest of their contents (``custom:3f2a…``). The time is the newest build."""
    parts, times, custom = [], [], []
    for path in files:
        header = _cvd_header(path) if path.suffix.lower() in {".cvd", ".cld"} else None
        if header:
            parts.append(f"{path.stem}:{header[0]}")
            times.append(header[1])
        else:
            custom.append(path)
            times.append(datetime.fromtimestamp(path.stat().st_mtime, timezone.utc))
    if custom:
        parts.append(f"custom:{_fingerprint(custom)}")
    return " ".join(parts), max(times)


def database_status(config: ScannerConfig, now: datetime | None = None) -> DatabaseStatus:
    """The database in ``db_dir``: missing, empty or older than ``max_age_days`` is not ok."""
    engine = f"{ENGINE} {_engine_version()}"
    if config.db_dir is None:
        return DatabaseStatus(engine=engine, db_version="", db_age_days=None, ok=False,
                              reason="no signature database configured (JUANZONG_CLAMAV_DB)")
    if not has_database(config):
        return DatabaseStatus(engine=engine, db_version="", db_age_days=None, ok=False,
                              reason=f"{config.db_dir}: no ClamAV signature files")
    version, built = _version_and_time(signature_files(config.db_dir))
    age = ((now or datetime.now(timezone.utc)) - built).total_seconds() / 86400
    stale = age > config.max_age_days
    return DatabaseStatus(engine=engine, db_version=version, db_age_days=round(age, 1), ok=not stale,
                          reason=f"older than {config.max_age_days} days" if stale else "")


def virus_status(settings: Settings) -> dict:
    """``{engine, db_version, db_age_days, ok, reason}`` for ``health`` and ``status``."""
    return database_status(ScannerConfig.from_settings(settings)).model_dump()


def _engine_version() -> str:
    try:
        return clamd.version()
    except Exception as exc:  # noqa: BLE001 - a status report names what is missing, never raises
        return f"not installed ({exc})"


# ---- the daemon ---------------------------------------------------------------------------------

def _loaded_key(db_dir: Path) -> str:
    """What clamd loaded: the folder and each signature file's name, size and mtime (cheap to
    compare; an official database is hundreds of megabytes)."""
    stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in signature_files(db_dir)]
    return f"{db_dir.absolute()} {stats}"


def scanner_socket(config: ScannerConfig) -> Path:
    """The configured clamd, else Juanzong's own on ``db_dir`` (started, or restarted when the
    signature files changed since it loaded them). A file lock keeps concurrent ingests (API
    workers, another CLI) from starting two."""
    if config.socket is not None:
        return config.socket
    if config.db_dir is None:
        raise clamd.ClamdError("no clamd socket and no signature database configured")
    state = config.state_dir
    state.mkdir(parents=True, exist_ok=True)
    with (state / "start.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        loaded, wanted = state / "database.loaded", _loaded_key(config.db_dir)
        sock = clamd.socket_for(state)
        if clamd.is_alive(sock) and loaded.is_file() and loaded.read_text() == wanted:
            return sock
        clamd.stop(state)
        sock = clamd.start(config.db_dir, state)
        loaded.write_text(wanted)
        return sock


# ---- scanning -----------------------------------------------------------------------------------

def _batch_files(batch_dir: Path) -> Iterator[Path]:
    """Every regular file under the batch folder (links are not followed: they are never read)."""
    for root, dirs, files in os.walk(batch_dir):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if path.is_file() and not path.is_symlink():
                yield path


def _scan(sock: Path, batch_dir: Path, path: Path) -> FileScan:
    result = clamd.scan_file(sock, path)
    outcome = "fail" if result.infected else "not performed" if result.error else "pass"
    return FileScan(path=path.relative_to(batch_dir).as_posix(), outcome=outcome, signature=result.signature,
                    error=result.error, checked_at=datetime.now(timezone.utc))


def scan_batch(batch_dir: Path, config: ScannerConfig) -> VirusReport:
    """Scan every file of the batch; without a database, record each as not performed."""
    status = database_status(config)
    if config.socket is None and not has_database(config):
        now = datetime.now(timezone.utc)
        return VirusReport(engine=status.engine, db_version="", scans=tuple(
            FileScan(path=p.relative_to(batch_dir).as_posix(), outcome="not performed", error=status.reason,
                     checked_at=now) for p in _batch_files(batch_dir)))
    sock = scanner_socket(config)
    engine = clamd.daemon_version(sock)
    name, _, db = engine.partition("/")
    return VirusReport(engine=name, db_version=db or status.db_version or "as loaded by the configured clamd",
                       scans=tuple(_scan(sock, batch_dir, p) for p in _batch_files(batch_dir)))


def virus_problems(report: VirusReport, *, required: bool) -> list[Problem]:
    """E190 for each infected file (naming the signature), E191 for a file clamd could not scan,
    E193 for each file left unscanned for want of a database (fatal only when ``required``)."""
    problems = []
    for scan in report.scans:
        if scan.outcome == "fail":
            problems.append(Problem.of("E190", scan.path, found=scan.signature))
        elif scan.error and report.db_version:
            problems.append(Problem.of("E191", scan.path, reason=scan.error))
        elif scan.outcome == "not performed":
            problems.append(Problem.of("E193", scan.path, reason=scan.error, fatal=required))
    return problems


def premis_events(report: VirusReport) -> dict[str, dict]:
    """Path -> the PREMIS-shaped ``virus check`` event for that file (engine and database named)."""
    return {s.path: {
        "event_type": "virus check", "event_time": s.checked_at.isoformat(), "agent": report.engine,
        "agent_type": "software", "agent_version": report.db_version or "no database",
        "outcome": s.outcome, "object_path": s.path,
        "detail": (f"{report.engine}, database {report.db_version}: " if report.db_version else f"{report.engine}: ")
        + (f"found {s.signature}" if s.signature else s.error or "no signature matched")}
        for s in report.scans}
