"""The intake area: where submitted batches wait, under ``settings.intake_root``.

    stations/<station>/<batch_id>/   an upload in progress (API): files/, parts/, totals.json
    ready/<key>/<batch>/             a complete batch, admitted atomically, waiting for ingest
    ready/<key>/origin.json          where to report the result (``*.result.json`` path)

Every way in (zip upload, chunked upload, hot folder) ends in ``admit`` then
``run_submission``: the ingest callable runs, an archived batch's originals are removed
(the flow only says "archived" after the AIP is stored and verified), a rejected batch is
moved whole into quarantine, and an error leaves the batch in ``ready/`` for the next run
(``pending_batches``). One process at a time ingests an admitted batch: it holds the slot's
lock (``archive.locks``: a PostgreSQL advisory lock when the catalog is on PostgreSQL, so API
processes and hot-folder takers on several machines exclude each other; lock files in
``.locks/`` otherwise); a crash releases it. Uploads are streamed to disk in chunks and size-limited; zips are
inspected member by member before a single byte is extracted, and are extracted only into a
hidden folder inside the intake area.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import shutil
import stat
import time
import unicodedata
import zipfile
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal, Protocol

from pydantic import BaseModel

from archive.locks import FileLocks, Locks
from ingest._move import move_tree, write_json_atomic
from ingest.manifest import MANIFEST_NAME, MAX_MANIFEST_DEPTH, ManifestTooDeep, parse_manifest_json
from schemas.errors import (
    ConfigurationError,
    InputRejected,
    JuanzongError,
    Problem,
    Report,
    Unavailable,
    describe,
    public_text,
)

DEFAULT_MAX_UPLOAD_BYTES = 4 << 30
DEFAULT_MAX_ZIP_RATIO = 100.0
DEFAULT_MAX_ZIP_MEMBERS = 20_000
MAX_MANIFEST_BYTES = 64 << 20
MAX_INGEST_ATTEMPTS = 3
RATIO_FLOOR_BYTES = 1 << 20
COPY_BLOCK = 1 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")
_RANGE = re.compile(r"^bytes (\d{1,19})-(\d{1,19})/(\d{1,19})$")


class IntakeRefused(InputRejected):
    """An upload refused before ingest; carries every problem found, the first names the code."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        self.code, self.path, self.params = problems[0].code, problems[0].path, {}
        Exception.__init__(self, problems[0].message)


def refuse(code: str, path: str, **params: Any) -> IntakeRefused:
    return IntakeRefused([Problem.of(code, path, **params)])


class Outcome(Protocol):
    """What the ingest callable returns (``flows.ingest_batch.IngestOutcome`` fits)."""

    batch_id: str
    status: str
    problems: list[dict]

    def model_dump(self, **kwargs: Any) -> dict: ...


Submit = Callable[[Path], Outcome]


class SubmissionResult(BaseModel):
    """The ``*.result.json`` a station reads: what became of its batch."""

    batch_id: str
    status: Literal["queued", "processing", "archived", "partial", "rejected", "error"]
    problems: list[dict] = []
    aips: list[dict] = []
    quarantine_id: str | None = None
    error: dict | None = None
    name_encoding: str | None = None  # how a zip's file names were read: utf-8 | gb18030
    updated_at: str = ""


# --- paths ---------------------------------------------------------------------------------

def relpath_problem(name: str) -> str | None:
    """Why ``name`` cannot be a path inside a batch (traversal, absolute, odd bytes), or None."""
    if not name or len(name.encode("utf-8", "surrogatepass")) > 1024:
        return "empty or longer than 1024 bytes"
    if any(ord(c) < 32 or c == "\x7f" for c in name) or "\\" in name:
        return "control character or backslash"
    if name.startswith("/") or _DRIVE.match(name):
        return "absolute path"
    parts = name.split("/")
    if ".." in parts:
        return "parent directory (..)"
    if any(p in ("", ".") or len(p.encode("utf-8", "surrogatepass")) > 255 for p in parts):
        return "empty, '.' or over-long path segment"
    return None


def is_safe_relpath(name: str) -> bool:
    return relpath_problem(name) is None


def check_relpath(name: str) -> str:
    reason = relpath_problem(name)
    if reason is not None:
        raise refuse("E117", name[:300] or "(empty)")
    return name


def is_safe_batch_id(batch_id: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,127}", batch_id))


# --- streaming -----------------------------------------------------------------------------

async def receive_stream(chunks: AsyncIterator[bytes], out: BinaryIO, *, limit: int,
                         path: str) -> int:
    """Copy an async byte stream into ``out`` block by block; refuse past ``limit`` bytes."""
    received = 0
    async for block in chunks:
        received += len(block)
        if received > limit:
            raise refuse("E140", path, expected=limit, found=received)
        out.write(block)
    return received


@dataclass(frozen=True)
class ChunkRange:
    """``Content-Range: bytes start-end/total`` (end inclusive); no header = the whole file."""

    start: int = 0
    end: int | None = None
    total: int | None = None

    @property
    def length(self) -> int | None:
        return None if self.end is None else self.end - self.start + 1


def parse_content_range(header: str | None, path: str, *, limit: int) -> ChunkRange:
    if header is None:
        return ChunkRange()
    m = _RANGE.match(header.strip())
    if not m:
        raise refuse("E145", path, reason=f"Content-Range {header[:80]!r} is not 'bytes start-end/total'")
    start, end, total = (int(g) for g in m.groups())
    if not start <= end < total:
        raise refuse("E145", path, reason=f"range {start}-{end} does not fit a file of {total} bytes")
    if total > limit:
        raise refuse("E140", path, expected=limit, found=total)
    return ChunkRange(start, end, total)


# --- zip -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ZipLimits:
    max_total_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    max_ratio: float = DEFAULT_MAX_ZIP_RATIO
    max_members: int = DEFAULT_MAX_ZIP_MEMBERS


UTF8_FLAG = 0x800
NAME_ENCODINGS = ("utf-8", "gb18030")


@dataclass(frozen=True)
class ZipNames:
    """Each member's name as the station meant it, and how the names without the zip's UTF-8
    flag were read: Info-ZIP writes UTF-8 without the flag, Windows' built-in zip the system
    code page (GBK/GB18030, a superset); Python would read both as cp437."""

    names: tuple[str, ...]
    encoding: str  # utf-8 (flagged or not) | gb18030
    undecodable: tuple[str, ...] = ()


def _raw_name(info: zipfile.ZipInfo) -> bytes:
    return info.orig_filename.encode("cp437")  # zipfile decoded the unflagged bytes as cp437


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def decode_names(infos: list[zipfile.ZipInfo]) -> ZipNames:
    """UTF-8 when every unflagged name is valid UTF-8, else GB18030 when every one is valid
    GB18030; a name neither reading fits is left undecodable (E165) rather than guessed."""
    unflagged = [_raw_name(i) for i in infos if not i.flag_bits & UTF8_FLAG]
    encoding = next((e for e in NAME_ENCODINGS if all(_decodes(r, e) for r in unflagged)), None)
    names, bad = [], []
    for info in infos:
        if info.flag_bits & UTF8_FLAG:
            names.append(info.filename)
            continue
        raw = _raw_name(info)
        chosen = encoding or next((e for e in NAME_ENCODINGS if _decodes(raw, e)), None)
        if encoding is None:
            bad.append(raw.decode("utf-8", "replace")[:300])
        names.append(raw.decode(chosen) if chosen else info.filename)
    return ZipNames(tuple(names), encoding or "mixed", tuple(bad))


def _member_problems(info: zipfile.ZipInfo, limits: ZipLimits, filename: str) -> list[Problem]:
    name = filename.rstrip("/") if info.is_dir() else filename
    shown = name[:300] or "(empty)"
    mode = info.external_attr >> 16
    problems = []
    if relpath_problem(name) is not None:
        problems.append(Problem.of("E117", shown))
    elif stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        problems.append(Problem.of("E117", shown))
    if info.flag_bits & 0x1:
        problems.append(Problem.of("E141", shown, reason="member is encrypted"))
    big = info.file_size > RATIO_FLOOR_BYTES
    if big and info.file_size > limits.max_ratio * max(info.compress_size, 1):
        ratio = info.file_size / max(info.compress_size, 1)
        problems.append(Problem.of("E143", shown, expected=limits.max_ratio, found=f"{ratio:.0f}"))
    return problems


def _duplicate_problems(infos: list[zipfile.ZipInfo], names: tuple[str, ...]) -> list[Problem]:
    """Names equal after NFC and case folding, or a file that is also another member's folder."""
    seen: set[str] = set()
    files: set[str] = set()
    dirs: set[str] = set()
    problems = []
    for info, filename in zip(infos, names):
        name = unicodedata.normalize("NFC", filename.rstrip("/")).casefold()
        if name in seen:
            problems.append(Problem.of("E142", filename[:300]))
        seen.add(name)
        parts = name.split("/")
        dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
        (dirs if info.is_dir() else files).add(name)
    problems += [Problem.of("E142", name) for name in sorted(files & dirs)]
    return problems


def inspect_zip(zip_path: Path, limits: ZipLimits = ZipLimits(), *,
                label: str = "") -> Report:
    """Every reason not to extract this zip, read from its central directory alone."""
    label = label or zip_path.name
    report = Report()
    try:
        with zipfile.ZipFile(zip_path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        report.add(Problem.of("E141", label, reason=str(exc)[:200] or type(exc).__name__))
        return report
    if len(infos) > limits.max_members:
        report.add(Problem.of("E141", label, reason=f"{len(infos)} members, limit {limits.max_members}"))
        return report
    decoded = decode_names(infos)
    for name in decoded.undecodable:
        report.add(Problem.of("E165", name))
    for info, name in zip(infos, decoded.names):
        for p in _member_problems(info, limits, name):
            report.add(p)
    for p in _duplicate_problems(infos, decoded.names):
        report.add(p)
    total = sum(i.file_size for i in infos)
    if total > limits.max_total_bytes:
        report.add(Problem.of("E144", label, expected=limits.max_total_bytes, found=total))
    packed = max(zip_path.stat().st_size, 1)
    if total > RATIO_FLOOR_BYTES and total > limits.max_ratio * packed:
        report.add(Problem.of("E143", label, expected=limits.max_ratio, found=f"{total / packed:.0f}"))
    return report


def _extract_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, root: Path, name: str) -> None:
    target = root / name
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with zf.open(info) as src, target.open("xb") as out:
        while block := src.read(COPY_BLOCK):
            written += len(block)
            if written > info.file_size:
                raise refuse("E143", name, expected="declared size", found=written)
            out.write(block)


def extract_zip(zip_path: Path, dest: Path, limits: ZipLimits = ZipLimits(), *,
                label: str = "") -> Path:
    """Inspect, then extract into a hidden sibling of ``dest`` and rename it into place, each
    member under its name as ``decode_names`` reads it.

    Nothing is written anywhere until the whole central directory has passed; a member whose
    data turns out corrupt or larger than declared aborts and removes the partial folder."""
    report = inspect_zip(zip_path, limits, label=label)
    if not report.ok:
        raise IntakeRefused(report.problems)
    tmp = dest.parent / f".extracting-{dest.name}-{secrets.token_hex(4)}"
    tmp.mkdir(parents=True)
    try:
        with zipfile.ZipFile(zip_path) as zf:
            infos = zf.infolist()
            decoded = decode_names(infos)
            for info, name in zip(infos, decoded.names):
                if not info.is_dir():
                    _extract_member(zf, info, tmp, name)
        tmp.rename(dest)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise refuse("E141", label or zip_path.name, reason=str(exc)[:200] or type(exc).__name__) from exc
    except IntakeRefused:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def zip_name_encoding(zip_path: Path) -> str:
    """How ``extract_zip`` reads this (already inspected) zip's member names."""
    with zipfile.ZipFile(zip_path) as zf:
        return decode_names(zf.infolist()).encoding


def batch_root_of(extracted: Path) -> Path:
    """The folder holding manifest.json: the zip's root, or its single top-level folder."""
    if (extracted / MANIFEST_NAME).exists():
        return extracted
    entries = list(extracted.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return extracted


def manifest_field(batch_dir: Path, name: str) -> str | None:
    """One top-level string of a manifest that may be broken; None when it cannot be read."""
    try:
        return manifest_string((batch_dir / MANIFEST_NAME).read_bytes(), name)
    except (OSError, InputRejected):
        return None


def manifest_string(manifest: bytes, name: str) -> str | None:
    """``manifest_field`` for manifest bytes not yet on disk (a commit's body). A manifest
    nested deeper than any station manifest is refused (E162) rather than read."""
    try:
        data = parse_manifest_json(manifest)
    except ManifestTooDeep:
        raise refuse("E162", MANIFEST_NAME, expected=MAX_MANIFEST_DEPTH) from None
    except ValueError:
        return None
    value = data.get(name) if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def manifest_claims(manifest: bytes) -> tuple[str | None, str | None]:
    """(station_id, batch_id) a station's manifest names, for the API's checks before queueing:
    E101 when it is not JSON at all, E162 when it nests too deep; None for a field left to
    validation (missing or not a string)."""
    try:
        data = parse_manifest_json(manifest)
    except ManifestTooDeep:
        raise refuse("E162", MANIFEST_NAME, expected=MAX_MANIFEST_DEPTH) from None
    except ValueError as exc:
        raise refuse("E101", MANIFEST_NAME, reason=str(exc)[:200]) from None
    if not isinstance(data, dict):
        return None, None
    station, batch = data.get("station_id"), data.get("batch_id")
    return (station if isinstance(station, str) else None, batch if isinstance(batch, str) else None)


# --- staged uploads (API) ------------------------------------------------------------------

class FileProgress(BaseModel):
    path: str
    received: int
    total: int | None
    complete: bool


@dataclass(frozen=True)
class StagedBatch:
    """One station's upload of one batch, file by file, resumable."""

    root: Path

    @classmethod
    def of(cls, intake_root: Path, station_id: str, batch_id: str) -> StagedBatch:
        return cls(intake_root / "stations" / station_id / batch_id)

    @property
    def files_dir(self) -> Path:
        return self.root / "files"

    @property
    def parts_dir(self) -> Path:
        return self.root / "parts"

    @property
    def result_path(self) -> Path:
        return self.root / "result.json"

    def exists(self) -> bool:
        return self.root.is_dir()

    def totals(self) -> dict[str, int]:
        path = self.root / "totals.json"
        return json.loads(path.read_text("utf-8")) if path.exists() else {}

    def set_total(self, rel: str, total: int, *, replace: bool = False) -> None:
        """Record a file's announced size; a chunk may not change it, a whole re-upload may."""
        with (self.root / ".totals.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            totals = self.totals()
            if not replace and totals.get(rel) not in (None, total):
                raise refuse("E145", rel, reason=f"total size changed from {totals[rel]} to {total}")
            if totals.get(rel) != total:
                write_json_atomic(self.root / "totals.json", json.dumps({**totals, rel: total}))

    def progress(self, rel: str) -> FileProgress:
        final, part = self.files_dir / rel, self.parts_dir / f"{rel}.part"
        total = self.totals().get(rel)
        if final.is_file():
            size = final.stat().st_size
            return FileProgress(path=rel, received=size, total=size, complete=True)
        received = part.stat().st_size if part.is_file() else 0
        return FileProgress(path=rel, received=received, total=total, complete=False)

    def all_progress(self) -> list[FileProgress]:
        names = set(self.totals())
        if self.files_dir.is_dir():
            names |= {p.relative_to(self.files_dir).as_posix()
                      for p in self.files_dir.rglob("*") if p.is_file()}
        return [self.progress(n) for n in sorted(names)]

    def reset(self) -> None:
        """Start a fresh upload round (after the previous one was archived or rejected)."""
        for sub in (self.files_dir, self.parts_dir):
            shutil.rmtree(sub, ignore_errors=True)
        for name in ("totals.json", "result.json"):
            (self.root / name).unlink(missing_ok=True)

    def read_result(self) -> SubmissionResult | None:
        try:
            return SubmissionResult.model_validate_json(self.result_path.read_bytes())
        except (OSError, ValueError):
            return None


async def write_chunk(staged: StagedBatch, rel: str, rng: ChunkRange,
                      body: AsyncIterator[bytes], *, limit: int) -> FileProgress:
    """Write one chunk at its offset; when the file is whole, move it from parts/ to files/.

    A chunk may repeat bytes already received (a retry) but may not leave a gap. Re-sending a
    chunk of a file that is already complete is a no-op, so a retried last chunk is harmless."""
    check_relpath(rel)
    check_no_clash(staged, rel)
    done = staged.progress(rel)
    if done.complete and rng.total is not None and done.total == rng.total:
        async for _ in body:
            pass
        return done
    if rng.start > done.received:
        raise refuse("E145", rel, reason=f"chunk starts at {rng.start} but only {done.received} bytes were received")
    if rng.total is not None:
        staged.set_total(rel, rng.total)
    part = staged.parts_dir / f"{rel}.part"
    part.parent.mkdir(parents=True, exist_ok=True)
    with part.open("r+b" if part.exists() and rng.total is not None else "wb") as out:
        out.seek(rng.start)
        n = await receive_stream(body, out, limit=rng.length or limit, path=rel)
    if rng.length is not None and n != rng.length:
        raise refuse("E145", rel, reason=f"body has {n} bytes, Content-Range says {rng.length}")
    if rng.total is None:
        staged.set_total(rel, n, replace=True)
    return _finish_part(staged, rel, part)


def check_no_clash(staged: StagedBatch, rel: str) -> None:
    """Refuse (E163) a name that is a folder of a file already announced, or has one as its
    folder: ``a`` then ``a/b`` (or ``c/d`` then ``c``) cannot both be files of one batch. Looks
    only along ``rel``'s own path, so a batch of many files is not read again at every chunk."""
    totals = staged.totals()
    parts = rel.split("/")
    for i in range(1, len(parts)):
        folder = "/".join(parts[:i])
        if (folder in totals or (staged.files_dir / folder).is_file()
                or (staged.parts_dir / f"{folder}.part").is_file()):
            raise refuse("E163", rel[:300], found=folder[:300])
    if (staged.files_dir / rel).is_dir() or (staged.parts_dir / rel).is_dir():
        raise refuse("E163", rel[:300], found=f"{rel[:300]}/…")


def _finish_part(staged: StagedBatch, rel: str, part: Path) -> FileProgress:
    total = staged.totals()[rel]
    if part.stat().st_size >= total:
        final = staged.files_dir / rel
        final.parent.mkdir(parents=True, exist_ok=True)
        part.replace(final)
    return staged.progress(rel)


def commit_staged(staged: StagedBatch, manifest: bytes) -> Path:
    """Check every file is whole, write the manifest; return the folder to admit."""
    if len(manifest) > MAX_MANIFEST_BYTES:
        raise refuse("E140", MANIFEST_NAME, expected=MAX_MANIFEST_BYTES, found=len(manifest))
    unfinished = [p for p in staged.all_progress() if not p.complete]
    if unfinished:
        raise IntakeRefused([Problem.of("E146", p.path, expected=p.total, found=p.received)
                             for p in unfinished])
    staged.files_dir.mkdir(parents=True, exist_ok=True)
    (staged.files_dir / MANIFEST_NAME).write_bytes(manifest)
    shutil.rmtree(staged.parts_dir, ignore_errors=True)
    return staged.files_dir


# --- admission and submission --------------------------------------------------------------

def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def write_result(path: Path, result: SubmissionResult) -> SubmissionResult:
    stamped = result.model_copy(update={"updated_at": _now()})
    write_json_atomic(path, stamped.model_dump_json(indent=2))
    return stamped


def admit(src: Path, intake_root: Path, *, result_path: Path, batch_name: str | None = None,
          source: str = "", station_id: str | None = None, name_encoding: str | None = None) -> Path:
    """Move a complete batch into ``ready/<key>/`` atomically and mark it queued."""
    key = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{secrets.token_hex(4)}"
    slot = intake_root / "ready" / key
    slot.mkdir(parents=True)
    origin = {"result_path": str(result_path), "source": source, "station_id": station_id,
              "name_encoding": name_encoding}
    write_json_atomic(slot / "origin.json", json.dumps(origin, ensure_ascii=False))
    try:
        dest = move_tree(src, slot / (batch_name or src.name))
    except BaseException:
        shutil.rmtree(slot, ignore_errors=True)  # never leave an empty slot behind
        raise
    write_result(result_path, SubmissionResult(batch_id=dest.name, status="queued",
                                               name_encoding=name_encoding))
    return dest


def pending_batches(intake_root: Path) -> list[Path]:
    """Batches admitted but not settled (a crash or an error); empty slots are removed, and
    verdicts a crash kept from their stations are delivered first."""
    deliver_settled(intake_root)
    ready = intake_root / "ready"
    found = []
    for slot in sorted(ready.iterdir()) if ready.is_dir() else []:
        try:
            batches = [p for p in slot.iterdir() if p.is_dir() and not p.name.startswith(".")]
            if batches:
                found.append(batches[0])
            elif time.time() - slot.stat().st_mtime > 3600:
                shutil.rmtree(slot, ignore_errors=True)
        except FileNotFoundError:  # settled and removed by another worker while we looked: not pending
            continue
    return found


def _origin(batch_dir: Path) -> dict:
    try:
        return json.loads((batch_dir.parent / "origin.json").read_text("utf-8"))
    except (OSError, ValueError):
        return {}


def _quarantine(batch_dir: Path, problems: list[dict], origin: dict, quarantine_root: Path,
                batch_id: str) -> str:
    from ingest.quarantine import quarantine_batch

    station = origin.get("station_id") or manifest_field(batch_dir, "station_id")
    entry = quarantine_batch(batch_dir, problems, quarantine_root, batch_id=batch_id,
                             station_id=station, source=origin.get("source", ""))
    return entry.id


def _settle(batch_dir: Path, outcome: Outcome, origin: dict, quarantine_root: Path) -> str | None:
    if outcome.status == "rejected":
        return _quarantine(batch_dir, outcome.problems, origin, quarantine_root, outcome.batch_id)
    shutil.rmtree(batch_dir)
    return None


def _count_failure(slot: Path, error: dict) -> int:
    """Record one more failed attempt on the admitted batch; return how many there were."""
    path = slot / "attempts.json"
    try:
        count = int(json.loads(path.read_text("utf-8")).get("count", 0))
    except (OSError, ValueError, AttributeError):
        count = 0
    write_json_atomic(path, json.dumps({"count": count + 1, "last_error": error}, ensure_ascii=False))
    return count + 1


def intake_locks(intake_root: Path) -> Locks:
    """The embedded default's slot locks: files in ``.locks/`` of the intake area."""
    return FileLocks(intake_root / ".locks")


def run_submission(batch_dir: Path, submit: Submit, *, quarantine_root: Path,
                   locks: Locks | None = None) -> SubmissionResult:
    """Run the ingest callable on an admitted batch and settle it; report to its origin.

    This is an edge (background worker, hot folder loop): an unexpected exception becomes an
    ``error`` result with code E999 and the batch stays in ``ready/`` to be retried, at most
    ``MAX_INGEST_ATTEMPTS`` times before it goes to quarantine. A batch another process is already
    ingesting (or has settled meanwhile) is left alone and reported as ``processing``, and nothing
    is written to its origin."""
    locks = locks or intake_locks(batch_dir.parent.parent.parent)
    with locks.try_hold(f"intake-slot:{batch_dir.parent.name}") as locked:
        if not locked or not batch_dir.is_dir():
            return SubmissionResult(batch_id=batch_dir.name, status="processing")
        return _run_locked(batch_dir, submit, quarantine_root)


def _run_locked(batch_dir: Path, submit: Submit, quarantine_root: Path) -> SubmissionResult:
    origin = _origin(batch_dir)
    result_path = Path(origin["result_path"]) if origin.get("result_path") else None
    if result_path:
        write_result(result_path, SubmissionResult(batch_id=batch_dir.name, status="processing",
                                                   name_encoding=origin.get("name_encoding")))
    try:
        outcome = submit(batch_dir)
        qid = _settle(batch_dir, outcome, origin, quarantine_root)
    except Exception as exc:  # noqa: BLE001 - the background edge: report, keep the batch
        result = _failed(batch_dir, exc, origin, quarantine_root)
    else:
        dump = outcome.model_dump(mode="json")
        result = SubmissionResult(batch_id=outcome.batch_id, status=outcome.status,
                                  problems=list(outcome.problems), aips=dump.get("aips", []),
                                  quarantine_id=qid, name_encoding=origin.get("name_encoding"))
    return _publish(batch_dir, result_path, result)


def _failed(batch_dir: Path, exc: Exception, origin: dict, quarantine_root: Path) -> SubmissionResult:
    """An error keeps the batch in ``ready/`` for the next run, up to ``MAX_INGEST_ATTEMPTS``
    errors: a batch that fails every time (a poison batch) then goes to quarantine (E164)
    instead of being retried at every start and holding its batch id busy for ever. Errors of
    the archive itself (settings, an unavailable service) are not counted against the batch."""
    if isinstance(exc, JuanzongError):
        error = {"code": exc.code, "path": public_text(exc.path), "message": public_text(str(exc))}
    else:
        error = {"code": "E999", "path": batch_dir.name,
                 "message": public_text(describe("E999", path=batch_dir.name,
                                                 reason=f"{type(exc).__name__}: {exc}"[:300]))}
    if isinstance(exc, (ConfigurationError, Unavailable)):  # the archive's fault, not the batch's
        return SubmissionResult(batch_id=batch_dir.name, status="error", error=error,
                                name_encoding=origin.get("name_encoding"))
    attempts = _count_failure(batch_dir.parent, error)
    if attempts < MAX_INGEST_ATTEMPTS:
        return SubmissionResult(batch_id=batch_dir.name, status="error", error=error,
                                name_encoding=origin.get("name_encoding"))
    poison = Problem.of("E164", batch_dir.name, found=attempts, reason=f"{error['code']}: {error['message']}"[:300])
    problems = [poison.public()]
    qid = _quarantine(batch_dir, problems, origin, quarantine_root, batch_dir.name)
    return SubmissionResult(batch_id=batch_dir.name, status="rejected", problems=problems,
                            quarantine_id=qid, error=error, name_encoding=origin.get("name_encoding"))


def _publish(batch_dir: Path, result_path: Path | None, result: SubmissionResult) -> SubmissionResult:
    """Report the result to its origin. A settled batch's slot leaves ``ready/`` first (one
    rename into ``settled/``, its verdict inside), so whoever reads a final status finds nothing
    of the batch left in ``ready/``; a crash before the verdict is written is mended by
    ``deliver_settled`` at the next start."""
    if result.status == "error":
        return write_result(result_path, result) if result_path else result
    slot = batch_dir.parent
    settled = slot.parent.parent / "settled" / slot.name
    write_json_atomic(slot / "verdict.json", result.model_dump_json())
    settled.parent.mkdir(parents=True, exist_ok=True)
    os.rename(slot, settled)
    if result_path:
        result = write_result(result_path, result)
    shutil.rmtree(settled, ignore_errors=True)
    return result


def deliver_settled(intake_root: Path) -> None:
    """Write the verdicts of batches settled just before a crash, and forget their slots."""
    settled = intake_root / "settled"
    for slot in sorted(settled.iterdir()) if settled.is_dir() else []:
        try:
            verdict = SubmissionResult.model_validate_json((slot / "verdict.json").read_bytes())
            result_path = json.loads((slot / "origin.json").read_text("utf-8")).get("result_path")
        except (OSError, ValueError):
            result_path = None
        if result_path:
            write_result(Path(result_path), verdict)
        shutil.rmtree(slot, ignore_errors=True)
