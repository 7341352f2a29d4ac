"""Quarantine: a rejected batch is kept whole, with its problem report, until an archivist
releases it (after fixing metadata in place) or discards it.

    <quarantine_root>/<id>/problems.json   the entry: batch, station, status, problems, history
    <quarantine_root>/<id>/problems.txt    the same report for people, in Chinese and English
    <quarantine_root>/<id>/<batch folder>  the batch exactly as it was submitted

The report is written before the batch is moved in, so a batch in quarantine always has
its reasons beside it. Discarding needs the archivist role (``archive.permissions``: ``quarantine.decide``) and is
recorded in the catalog as a PREMIS ``deletion`` event before anything is deleted.
"""

from __future__ import annotations

import re
import secrets
import shutil
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from ingest._move import move_tree, write_json_atomic
from schemas import load_json
from schemas.errors import NotFound

_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,200}")


class QuarantineEntry(BaseModel):
    id: str
    batch_id: str
    folder: str
    station_id: str | None = None
    status: Literal["quarantined", "released", "discarded"] = "quarantined"
    quarantined_at: str
    source: str = ""
    problems: list[dict] = []
    history: list[dict] = []


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _new_id(batch_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._\-]", "_", batch_id)[:100] or "batch"
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{safe}-{secrets.token_hex(3)}"


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "…"


def problem_message(problem: dict, lang: str) -> str:
    entry = load_json("error_codes.json").get(problem.get("code", ""), {})
    if lang == "en" and problem.get("message"):
        return str(problem["message"])
    return entry.get(lang, problem.get("message", "")).format_map(_Blank(problem))


def render_text(entry: QuarantineEntry) -> str:
    """The report a court archivist reads: every problem in 中文 and English."""
    lines = [f"隔离批次 Quarantined batch: {entry.batch_id}",
             f"编号 ID: {entry.id}",
             f"工作站 Station: {entry.station_id or '-'}",
             f"隔离时间 Quarantined at: {entry.quarantined_at}",
             f"状态 Status: {entry.status}",
             f"来源 Source: {entry.source or '-'}",
             f"问题 Problems: {len(entry.problems)}", ""]
    for p in entry.problems:
        lines += [f"[{p.get('code', '?')}] {p.get('path', '')}",
                  f"  中文：{problem_message(p, 'zh')}",
                  f"  English: {problem_message(p, 'en')}", ""]
    for h in entry.history:
        lines.append(f"{h['at']} {h['action']} by {h.get('by') or '-'}: {h.get('detail', '')}")
    return "\n".join(lines) + "\n"


def _save(root: Path, entry: QuarantineEntry) -> None:
    slot = root / entry.id
    write_json_atomic(slot / "problems.json", entry.model_dump_json(indent=2))
    write_json_atomic(slot / "problems.txt", render_text(entry))


def quarantine_batch(batch_dir: Path, problems: list[dict], root: Path, *, batch_id: str,
                     station_id: str | None = None, source: str = "") -> QuarantineEntry:
    """Keep ``batch_dir`` whole under ``root`` with its report; return the new entry."""
    entry = QuarantineEntry(id=_new_id(batch_id), batch_id=batch_id, folder=batch_dir.name,
                            station_id=station_id, quarantined_at=_now(), source=source,
                            problems=[dict(p) for p in problems])
    _save(root, entry)
    move_tree(batch_dir, root / entry.id / entry.folder)
    return entry


def list_entries(root: Path, *, include_closed: bool = False) -> list[QuarantineEntry]:
    entries = []
    for report in sorted(root.glob("*/problems.json")) if root.is_dir() else []:
        entry = QuarantineEntry.model_validate_json(report.read_bytes())
        if include_closed or entry.status == "quarantined":
            entries.append(entry)
    return entries


def load_entry(root: Path, qid: str) -> QuarantineEntry:
    report = root / qid / "problems.json"
    if not _SAFE_ID.fullmatch(qid) or not report.is_file():
        raise NotFound("E151", qid)
    return QuarantineEntry.model_validate_json(report.read_bytes())


def batch_path(root: Path, entry: QuarantineEntry) -> Path:
    """Where the quarantined batch lies, for an archivist to inspect and fix its manifest."""
    return root / entry.id / entry.folder


def _open_entry(root: Path, qid: str) -> QuarantineEntry:
    entry = load_entry(root, qid)
    if entry.status != "quarantined" or not batch_path(root, entry).is_dir():
        raise NotFound("E151", qid)
    return entry


def _close(root: Path, entry: QuarantineEntry, status: str, by: str | None,
           detail: str) -> QuarantineEntry:
    history = [*entry.history, {"at": _now(), "action": status, "by": by, "detail": detail}]
    closed = entry.model_copy(update={"status": status, "history": history})
    _save(root, closed)
    return closed


def release(root: Path, qid: str, intake_root: Path, *, by: str | None = None,
            result_path: Path | None = None) -> tuple[QuarantineEntry, Path]:
    """Move a (fixed) batch back into intake for another ingest; return it and its new path."""
    from ingest.intake import admit

    entry = _open_entry(root, qid)
    dest = admit(batch_path(root, entry), intake_root,
                 result_path=result_path or root / qid / "release.result.json",
                 source=f"quarantine:{qid}", station_id=entry.station_id)
    return _close(root, entry, "released", by, f"moved to {dest}"), dest


def fix_manifest(root: Path, qid: str, manifest: bytes, *, by: str) -> tuple[QuarantineEntry, list[dict]]:
    """Replace the quarantined batch's manifest (an archivist fixing its metadata). The new text
    must parse and pass the manifest schema, else nothing is written and its problems are
    returned; the entry's history records who changed it."""
    from ingest.manifest import MANIFEST_NAME
    from ingest.validate.manifest import ManifestRejected, parse_manifest, validate_manifest

    entry = _open_entry(root, qid)
    try:
        report = validate_manifest(parse_manifest(manifest))
    except ManifestRejected as exc:
        return entry, [p.public() for p in exc.report.problems]
    if not report.ok:
        return entry, [p.public() for p in report.problems]
    write_json_atomic(batch_path(root, entry) / MANIFEST_NAME, manifest.decode("utf-8"))
    history = [*entry.history, {"at": _now(), "action": "manifest edited", "by": by, "detail": ""}]
    entry = entry.model_copy(update={"history": history})
    _save(root, entry)
    return entry, []


def discard(root: Path, qid: str, *, principal_id: str, reason: str,
            catalog_url: str) -> QuarantineEntry:
    """Delete a quarantined batch for good: archivists only, logged before deletion."""
    from archive.catalog import session
    from archive.catalog.record import record_event

    entry = _open_entry(root, qid)
    from archive.permissions import authorize

    authorize(catalog_url, principal_id, "quarantine.decide", qid, code="E152")
    detail = (f"quarantined batch {entry.batch_id} ({len(entry.problems)} problems) discarded: "
              f"{reason}")
    with session(catalog_url) as s:
        record_event(s, "deletion", agent=principal_id, detail=detail,
                     object_path=f"quarantine/{qid}")
        s.commit()
    closed = _close(root, entry, "discarded", principal_id, reason)
    shutil.rmtree(batch_path(root, entry))
    return closed
