"""Tamper-evident audit log: every preservation event, hash-chained, in one JSONL file.

Layout under the log folder (``settings.home / "log"``)::

    preservation.jsonl          one entry per line, append-only
    heads/YYYY-MM-DD.json       the chain head (seq, digest) as it was that day
    heads/YYYY-MM-DD.json.p7s   detached CMS signature over that file (archive.signing)

Each entry is ``{"seq", "time", "event", "prev", "digest"}``; ``digest`` is SHA-256 over the
canonical JSON (sorted keys, no spaces, UTF-8) of the entry without ``digest``, so it covers
``prev`` and the chain breaks at the first edited, removed, inserted or reordered entry.

What the log folder alone cannot prove, the catalog does: whoever can rewrite the folder can cut
the tail and the newest heads together, or recompute the whole chain and move ``heads/`` away,
and the folder would still agree with itself. So ``sign_head`` also records each day's head in
the catalog (``LogHead``), and ``verify_log`` given the catalog (``catalog_expectation``)
reports a recorded day whose head file is gone (E444), a head that differs from its record
(E446), and events the catalog holds that the log lacks (E445: every event is a
``PreservationEvent`` row written in the same transaction that queues its log entry). An
attacker now has to rewrite the catalog too, which on PostgreSQL is another machine's data
with its own access control.

Where entries come from: ``archive.catalog.record.record_event`` queues each event on its
session and the entries are appended after the session commits (``after_commit``), so the
log never names an event the catalog rolled back. Why the chain stays a file and is not moved
into the catalog: the file is what an auditor can check with ``sha256sum`` and ``openssl``
alone, and the signed heads are only worth something when they live apart from the data
they vouch for. The price is that each process must know the folder: ``configure_log`` maps a
catalog URL to its log folder, and every door calls it from its settings: the CLI and the
API at start, and every flow at its edge (``flows._runtime.bind_journals``), so a flow run by a
Prefect worker on another machine logs into the same shared folder. A SQLite catalog without
registration logs into ``log/`` beside its database file; any other catalog without one
cannot log: the events are dropped with an E447 error in the process log, and ``log verify``
with the catalog reports them missing (E445), never "ok".

Each committed AIP version's inventory digest enters the chain too (``version_event``), so the
head of every AIP is provable without the catalog (``logged_versions``): a rolled-back object
(newest version deleted, the older inventory put back) disagrees with the log.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from cryptography import x509
from pydantic import BaseModel, ConfigDict

from archive.signing import Signer, verify_detached
from schemas.errors import Problem, describe

LOG_NAME = "preservation.jsonl"
HEADS_DIR = "heads"
GENESIS = "0" * 64
_PENDING = "juanzong.auditlog.pending"
_HOOKED = "juanzong.auditlog.hooked"
_LOG_DIRS: dict[str, Path] = {}
_RECENT_IDS = 100_000  # event ids of the log's newest entries kept to name what the catalog has more
VERSION_KEYS = ("ocfl_object", "ocfl_version", "inventory_sha512")
_log = logging.getLogger(__name__)


class LogEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    seq: int
    time: str
    event: dict[str, Any]
    prev: str
    digest: str


class LogHead(BaseModel):
    """What a signed head file states: the chain had ``seq`` entries ending in ``digest``."""

    model_config = ConfigDict(frozen=True)

    seq: int
    digest: str
    signed_at: str
    log: str = LOG_NAME


class LogVerification(BaseModel):
    ok: bool
    entries: int
    head_digest: str
    heads_checked: int
    problems: list[Problem] = []
    missing_days: list[str] = []  # days whose signed head the catalog records but the folder lacks

    @property
    def first_bad_seq(self) -> int | None:
        bad = [int(p.found) for p in self.problems if p.code == "E440" and p.found and p.found.isdigit()]
        return min(bad) if bad else None


def canonical(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def entry_digest(seq: int, time: str, event: dict[str, Any], prev: str) -> str:
    return hashlib.sha256(canonical({"seq": seq, "time": time, "event": event, "prev": prev})).hexdigest()


# ---- where the log lives ----------------------------------------------------------------------

def configure_log(catalog_url: str, log_dir: Path) -> None:
    """Make events recorded in the catalog at ``catalog_url`` go to ``log_dir`` (call at the edge)."""
    _LOG_DIRS[catalog_url] = Path(log_dir)


def log_dir_for(catalog_url: str) -> Path | None:
    """The registered log folder, else ``log/`` beside a SQLite catalog, else None."""
    if catalog_url in _LOG_DIRS:
        return _LOG_DIRS[catalog_url]
    if catalog_url.startswith("sqlite:///"):
        return Path(catalog_url.removeprefix("sqlite:///")).parent / "log"
    return None


# ---- appending --------------------------------------------------------------------------------

@contextmanager
def _locked(log_dir: Path) -> Iterator[Path]:
    """One appender at a time across processes (the chain needs the true previous digest)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / (LOG_NAME + ".lock"), "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield log_dir / LOG_NAME
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _last_entry(path: Path) -> LogEntry | None:
    """The last complete line of the log (reads only the tail)."""
    if not path.is_file() or path.stat().st_size == 0:
        return None
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        block = min(size, 1 << 16)
        while True:
            handle.seek(size - block)
            lines = handle.read(block).splitlines()
            if len(lines) > 1 or block == size:
                return LogEntry.model_validate_json(lines[-1])
            block = min(size, block * 4)


def append_events(log_dir: Path, events: list[dict[str, Any]]) -> list[LogEntry]:
    """Append ``events`` to the chain, fsync'd; returns the new entries."""
    if not events:
        return []
    with _locked(log_dir) as path:
        last = _last_entry(path)
        seq, prev = (last.seq, last.digest) if last else (0, GENESIS)
        written = []
        for event in events:
            seq += 1
            when = datetime.now(timezone.utc).isoformat()
            entry = LogEntry(seq=seq, time=when, event=event, prev=prev,
                             digest=entry_digest(seq, when, event, prev))
            written.append(entry)
            prev = entry.digest
        with path.open("ab") as handle:
            handle.write(b"".join(canonical(e.model_dump()) + b"\n" for e in written))
            handle.flush()
            os.fsync(handle.fileno())
        return written


def queue_event(session: Any, event: dict[str, Any]) -> None:
    """Queue ``event`` on a SQLAlchemy session; it is appended to the log when the session commits."""
    from sqlalchemy import event as sa_event

    session.info.setdefault(_PENDING, []).append(event)
    if session.info.get(_HOOKED):
        return
    session.info[_HOOKED] = True
    sa_event.listen(session, "after_commit", _flush_pending)
    sa_event.listen(session, "after_rollback", _drop_pending)


def _flush_pending(session: Any) -> None:
    pending = session.info.pop(_PENDING, [])
    url = session.get_bind().url
    log_dir = log_dir_for(str(url.render_as_string(hide_password=False)))
    if log_dir is not None:
        append_events(log_dir, pending)
    elif pending:
        _log.error("%s [E447]; %d events not logged", describe("E447", path=str(url)), len(pending))


def _drop_pending(session: Any) -> None:
    session.info.pop(_PENDING, None)


# ---- verifying --------------------------------------------------------------------------------

def read_entries(log_dir: Path) -> Iterator[tuple[int, bytes]]:
    path = log_dir / LOG_NAME
    if not path.is_file():
        return
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            yield number, line.rstrip(b"\n")


def _check_line(number: int, raw: bytes, expected_seq: int, prev: str, label: str) -> tuple[LogEntry | None, Problem | None]:
    try:
        entry = LogEntry.model_validate_json(raw)
    except ValueError as exc:
        return None, Problem.of("E440", label, found=str(expected_seq), reason=f"line {number} is not a log entry ({exc.__class__.__name__})")
    if entry.seq != expected_seq:
        return entry, Problem.of("E440", label, found=str(expected_seq),
                                 reason=f"line {number} has seq {entry.seq}, expected {expected_seq} (entry removed, inserted or reordered)")
    if entry.prev != prev:
        return entry, Problem.of("E440", label, found=str(entry.seq),
                                 reason="prev does not match the digest of the entry before it")
    if entry_digest(entry.seq, entry.time, entry.event, entry.prev) != entry.digest:
        return entry, Problem.of("E440", label, found=str(entry.seq), reason="entry content does not match its digest (edited)")
    return entry, None


class CatalogExpectation(BaseModel):
    """What the catalog says the log must hold: each recorded signed head, and its events."""

    model_config = ConfigDict(frozen=True)

    heads: dict[str, tuple[int, str]] = {}  # day -> (seq, digest)
    event_count: int = 0
    newest_event_ids: tuple[str, ...] = ()  # newest first, to name what the log lacks


def catalog_expectation(catalog_url: str, newest: int = 20) -> CatalogExpectation:
    """Read the catalog's record of signed heads and events (see the module docstring)."""
    import sqlalchemy as sa
    from sqlmodel import select

    from archive.catalog import session
    from archive.catalog.models import LogHead as LogHeadRow, PreservationEvent

    with session(catalog_url) as s:
        heads = {r.day: (r.seq, r.digest) for r in s.exec(select(LogHeadRow)).all()}
        count = s.exec(select(sa.func.count()).select_from(PreservationEvent)).one()
        ids = s.exec(select(PreservationEvent.id).order_by(PreservationEvent.event_time.desc())
                     .limit(newest)).all()
    return CatalogExpectation(heads=heads, event_count=count, newest_event_ids=tuple(ids))


class _Walk(BaseModel):
    """What one pass over the chain found."""

    entries: int = 0
    head_digest: str = GENESIS
    digests: dict[int, str] = {}
    event_ids: int = 0
    recent_ids: set[str] = set()
    problems: list[Problem] = []


def _walk(log_dir: Path) -> _Walk:
    label = str(log_dir / LOG_NAME)
    walk, recent = _Walk(), deque(maxlen=_RECENT_IDS)
    for number, raw in read_entries(log_dir):
        entry, problem = _check_line(number, raw, walk.entries + 1, walk.head_digest, label)
        if problem is not None:
            walk.problems.append(problem)
            break
        assert entry is not None
        walk.head_digest, walk.entries = entry.digest, entry.seq
        walk.digests[entry.seq] = entry.digest
        if "id" in entry.event:
            walk.event_ids += 1
            recent.append(entry.event["id"])
    walk.recent_ids = set(recent)
    return walk


def verify_log(log_dir: Path, trusted: list[x509.Certificate] | None = None,
               expected: CatalogExpectation | None = None) -> LogVerification:
    """Walk the whole chain, then check every signed head against it and, given the catalog's
    ``expected``, the recorded heads and the count of events; stops at the first break."""
    walk = _walk(log_dir)
    problems, heads, missing = list(walk.problems), 0, []
    if not problems:
        heads, head_problems = _check_heads(log_dir, walk.digests, trusted)
        problems += head_problems
    if not problems and expected is not None:
        missing, recorded = _check_recorded_heads(log_dir, walk.digests, expected)
        problems += recorded + _check_event_count(log_dir, walk, expected)
    return LogVerification(ok=not problems, entries=walk.entries, head_digest=walk.head_digest,
                           heads_checked=heads, problems=problems, missing_days=missing)


def _check_recorded_heads(log_dir: Path, digests: dict[int, str],
                          expected: CatalogExpectation) -> tuple[list[str], list[Problem]]:
    """Every head the catalog recorded must still be a head file naming an entry of the chain."""
    missing, problems = [], []
    for day, (seq, digest) in sorted(expected.heads.items()):
        head_file = log_dir / HEADS_DIR / f"{day}.json"
        if not head_file.is_file():
            missing.append(day)
            problems.append(Problem.of("E444", str(head_file), found=day))
            continue
        head = LogHead.model_validate_json(head_file.read_bytes())
        if (head.seq, head.digest) != (seq, digest):
            problems.append(Problem.of("E446", str(head_file), found=day,
                                       reason=f"file names entry {head.seq}, the catalog {seq} {digest[:16]}…"))
        elif digests.get(seq) != digest:
            problems.append(Problem.of(
                "E446", str(log_dir / LOG_NAME), found=day,
                reason=f"the log no longer holds entry {seq} with digest {digest[:16]}… (entries removed or recomputed)"))
    return missing, problems


def _check_event_count(log_dir: Path, walk: _Walk, expected: CatalogExpectation) -> list[Problem]:
    lacking = expected.event_count - walk.event_ids
    if lacking <= 0:
        return []
    named = [i for i in expected.newest_event_ids if i not in walk.recent_ids][:3]
    return [Problem.of("E445", str(log_dir / LOG_NAME), found=lacking,
                       reason=f"the catalog holds {expected.event_count}, the log {walk.event_ids}"
                              + (f"; e.g. {', '.join(named)}" if named else ""))]


# ---- AIP versions in the chain -----------------------------------------------------------------

def version_event(object_id: str, version: int, inventory_sha512: str) -> dict[str, Any]:
    """The log-only fields that make an AIP version provable from the log: object, version and
    the SHA-512 of that version's OCFL inventory (its sidecar's digest)."""
    return {"ocfl_object": object_id, "ocfl_version": version, "inventory_sha512": inventory_sha512}


class LoggedVersion(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: int
    inventory_sha512: str


def logged_versions(log_dir: Path) -> dict[str, LoggedVersion]:
    """OCFL object id -> the newest version the log records for it (with its inventory digest).
    Reads the chain as it is; ``verify_log`` says whether to trust it."""
    newest: dict[str, LoggedVersion] = {}
    for _number, raw in read_entries(log_dir):
        if b'"ocfl_version"' not in raw:
            continue
        try:
            event = json.loads(raw)["event"]
            found = LoggedVersion(version=int(event["ocfl_version"]),
                                  inventory_sha512=str(event["inventory_sha512"]))
        except (ValueError, KeyError, TypeError):
            continue
        current = newest.get(event["ocfl_object"])
        if current is None or found.version >= current.version:
            newest[event["ocfl_object"]] = found
    return newest


def _check_heads(log_dir: Path, digests: dict[int, str],
                 trusted: list[x509.Certificate] | None) -> tuple[int, list[Problem]]:
    problems, checked = [], 0
    for head_file in sorted((log_dir / HEADS_DIR).glob("*.json")):
        checked += 1
        signature = head_file.with_name(head_file.name + ".p7s")
        if not signature.is_file():
            problems.append(Problem.of("E441", str(head_file), reason="signature file is missing"))
            continue
        found = verify_detached(head_file.read_bytes(), signature.read_bytes(), str(signature), trusted)
        if found:
            problems.append(Problem.of("E441", str(signature), reason=found[0].message))
            continue
        head = LogHead.model_validate_json(head_file.read_bytes())
        if digests.get(head.seq) != head.digest:
            problems.append(Problem.of(
                "E440", str(log_dir / LOG_NAME), found=str(head.seq),
                reason=f"signed head {head_file.name} names entry {head.seq} with digest {head.digest[:16]}…, "
                       "which the log no longer holds (entries removed or rewritten)"))
    return checked, problems


def record_head(catalog_url: str, day: str, head: LogHead) -> None:
    """Keep the catalog's own record of a signed head (the verifier's second witness)."""
    from archive.catalog import session
    from archive.catalog.models import LogHead as LogHeadRow

    with session(catalog_url) as s:
        row = s.get(LogHeadRow, day) or LogHeadRow(day=day, seq=head.seq, digest=head.digest)
        row.seq, row.digest = head.seq, head.digest
        row.signed_at = datetime.fromisoformat(head.signed_at)
        s.add(row)
        s.commit()


def sign_head(log_dir: Path, signer: Signer, *, day: date | None = None,
              catalog_url: str | None = None) -> tuple[Path, LogHead]:
    """Write ``heads/<day>.json`` with the current head and its detached signature ``.p7s``;
    with ``catalog_url``, record it in the catalog too."""
    with _locked(log_dir) as path:
        last = _last_entry(path)
    head = LogHead(seq=last.seq if last else 0, digest=last.digest if last else GENESIS,
                   signed_at=datetime.now(timezone.utc).isoformat())
    heads = log_dir / HEADS_DIR
    heads.mkdir(parents=True, exist_ok=True)
    name = (day or datetime.now(timezone.utc).date()).isoformat()
    data = canonical(head.model_dump()) + b"\n"
    target = heads / f"{name}.json"
    _write_atomic(heads / f"{name}.json.p7s", signer.sign_detached(data))
    _write_atomic(target, data)
    if catalog_url is not None:
        record_head(catalog_url, name, head)
    return target, head


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
