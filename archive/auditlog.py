"""Tamper-evident audit log: every preservation event, hash-chained, in one JSONL file.

Layout under the log folder (``settings.home / "log"``)::

    preservation.jsonl          one entry per line, append-only
    heads/YYYY-MM-DD.json       the chain head (seq, digest) as it was that day
    heads/YYYY-MM-DD.json.p7s   detached CMS signature over that file (archive.signing)

Each entry is ``{"seq", "time", "event", "prev", "digest"}``; ``digest`` is SHA-256 over the
canonical JSON (sorted keys, no spaces, UTF-8) of the entry without ``digest``, so it covers
``prev`` and the chain breaks at the first edited, removed, inserted or reordered entry.
A truncated tail is caught by the newest signed head (its seq and digest must still be in
the log); entries appended after the last signed head are protected by the chain only.

Where entries come from: ``archive.catalog.record.record_event`` queues each event on its
session and the entries are appended after the session commits (``after_commit``), so the
log never names an event the catalog rolled back. The log folder is found per catalog URL
(``configure_log``, called once at the edge) so that one process can serve several archives;
a SQLite catalog without registration logs into ``log/`` beside its database file.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from cryptography import x509
from pydantic import BaseModel, ConfigDict

from archive.signing import Signer, verify_detached
from schemas.errors import Problem

LOG_NAME = "preservation.jsonl"
HEADS_DIR = "heads"
GENESIS = "0" * 64
_PENDING = "juanzong.auditlog.pending"
_HOOKED = "juanzong.auditlog.hooked"
_LOG_DIRS: dict[str, Path] = {}


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
    log_dir = log_dir_for(str(session.get_bind().url.render_as_string(hide_password=False)))
    if log_dir is not None:
        append_events(log_dir, pending)


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


def verify_log(log_dir: Path, trusted: list[x509.Certificate] | None = None) -> LogVerification:
    """Walk the whole chain, then check every signed head against it; stops at the first break."""
    label = str(log_dir / LOG_NAME)
    digests: dict[int, str] = {}
    prev, count, problems = GENESIS, 0, []
    for number, raw in read_entries(log_dir):
        entry, problem = _check_line(number, raw, count + 1, prev, label)
        if problem is not None:
            problems.append(problem)
            break
        assert entry is not None
        prev, count = entry.digest, entry.seq
        digests[entry.seq] = entry.digest
    heads = 0
    if not problems:
        heads, head_problems = _check_heads(log_dir, digests, trusted)
        problems += head_problems
    return LogVerification(ok=not problems, entries=count, head_digest=prev, heads_checked=heads,
                           problems=problems)


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


def sign_head(log_dir: Path, signer: Signer, *, day: date | None = None) -> tuple[Path, LogHead]:
    """Write ``heads/<day>.json`` with the current head and its detached signature ``.p7s``."""
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
    return target, head


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
