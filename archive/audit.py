"""Fixity audit of a storage root, with repair from a replica and JSON + HTML reports.

Modes: ``full`` reads every content file; ``sample`` reads ``sample_percent`` of the
content files (least recently checked first when ``last_checked`` is given, else a
seeded random choice) and checks inventories, bags and signatures of every object;
``signature`` reads no content and checks inventories, bag manifests against the
inventory and the signature. With a replica, a faulty primary file is replaced by the
replica's copy only if that copy matches what the inventory (or the replica's own
sidecar) expects; the object is then verified again. Files in no inventory are moved
to ``extensions/juanzong-quarantine/`` (never deleted). Without a replica nothing is
changed. Recording PREMIS events is the caller's job (``AuditReport.repaired``).

Every AIP version whose signature carries no signature timestamp token (signed while no TSA
was configured) is listed under ``no_trusted_time``: not a fault, so it fails nothing, but
an auditor relying on the version's date must know that only the signer claims it (the
renewal job, ``archive.renewal``, gives such versions an archive timestamp).
"""

from __future__ import annotations

import hashlib
import html
import os
import random
import shutil
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from cryptography import x509
from pydantic import BaseModel

from archive.fixity import digest_file
from archive.signing import SIGNATURE_NAME
from archive.storage.base import Store
from archive.storage.ocfl import INVENTORY, SIDECAR, OcflStore
from archive.trusted_time import NO_TRUSTED_TIME, signature_timestamp
from archive.verify import HEAD_KINDS, Finding, RecordedHead, check_head, ocfl_of, verify_object

Mode = Literal["full", "sample", "signature"]
QUARANTINE_EXTENSION = "juanzong-quarantine"


class Repair(BaseModel):
    object_id: str
    path: str  # relative to the primary storage root
    kind: str  # the fault repaired
    action: Literal["restored_from_replica", "quarantined"]
    source: str | None = None  # replica path, or quarantine path
    sha512: str | None = None  # digest of the file now in place


class UntimedVersion(BaseModel):
    """An AIP version signed without trusted time."""

    object_id: str
    version: str  # "v1", ...
    path: str  # the version's signature, relative to the storage root
    note: str = NO_TRUSTED_TIME


class AuditReport(BaseModel):
    mode: Mode
    started: datetime
    finished: datetime | None = None
    storage_root: str
    objects_checked: int = 0
    files_checked: int = 0
    bytes_checked: int = 0
    checked: int = 0  # objects checked
    ok: int = 0  # objects with no remaining finding
    findings: list[Finding] = []  # as found, before any repair
    repaired: list[Repair] = []
    remaining: list[Finding] = []  # after repair (equal to findings without a replica)
    checked_paths: list[str] = []  # content paths read (storage-root relative): feed "last checked"
    no_trusted_time: list[UntimedVersion] = []  # versions whose signature has no timestamp token (not a finding)


def audit_store(store: Store, *, mode: Mode, sample_percent: float = 5.0,
                object_ids: Iterable[str] | None = None, replica: Store | None = None,
                trusted: list[x509.Certificate] | None = None, jobs: int = 2,
                last_checked: Mapping[str, datetime] | None = None, seed: int | None = None,
                recorded: Mapping[str, RecordedHead] | None = None,
                on_object: Callable[[int, int], None] | None = None) -> AuditReport:
    """Audit ``object_ids`` (default: every object); repair from ``replica`` when given. With
    ``recorded`` (object id -> what catalog and log recorded) each head is compared too, and the
    recorded objects storage lacks and the stored objects nobody recorded are findings.
    ``on_object(done, total)`` hears each object finished (a progress display)."""
    ocfl = ocfl_of(store)
    report = AuditReport(mode=mode, started=datetime.now(timezone.utc), storage_root=str(ocfl.root))
    stored = set(object_ids if object_ids is not None else ocfl.object_ids())
    ids = sorted(stored | (set(recorded) if recorded is not None and object_ids is None else set()))
    selection = _select_content(ocfl, [i for i in ids if i in stored], mode, sample_percent,
                                last_checked or {}, seed)
    for done, object_id in enumerate(ids, 1):
        head_findings = check_head(ocfl, object_id, recorded.get(object_id)) if recorded is not None else []
        if object_id in stored:
            _audit_one(ocfl, object_id, selection[object_id], report, replica, trusted, jobs, head_findings)
        else:
            _count_findings(report, head_findings)
        if on_object is not None:
            on_object(done, len(ids))
    report.finished = datetime.now(timezone.utc)
    return report


def _count_findings(report: AuditReport, findings: list[Finding]) -> None:
    report.findings += findings
    report.remaining += findings
    report.checked += 1
    report.objects_checked += 1
    report.ok += 0 if findings else 1


def _select_content(ocfl: OcflStore, ids: list[str], mode: Mode, percent: float,
                    last_checked: Mapping[str, datetime], seed: int | None) -> dict[str, object]:
    """Per object: "all", "none" or the sampled content paths (object-relative)."""
    if mode != "sample":
        return {oid: "all" if mode == "full" else "none" for oid in ids}
    candidates: list[tuple[str, str]] = []
    for oid in ids:
        inventory = ocfl.inventory(oid) or {"manifest": {}}
        prefix = ocfl.object_dir(oid).relative_to(ocfl.root).as_posix()
        candidates += [(oid, f"{prefix}/{cp}") for cps in inventory["manifest"].values() for cp in cps]
    rng = random.Random(seed)
    rng.shuffle(candidates)
    oldest = datetime.min.replace(tzinfo=timezone.utc)
    candidates.sort(key=lambda c: last_checked.get(c[1], oldest))
    count = max(1, round(len(candidates) * percent / 100)) if candidates else 0
    chosen: dict[str, object] = {oid: set() for oid in ids}
    for oid, path in candidates[:count]:
        chosen[oid].add(path.split("/", 4)[4])  # type: ignore[union-attr]
    return chosen


def _audit_one(ocfl: OcflStore, object_id: str, content: object, report: AuditReport,
               replica: Store | None, trusted: list[x509.Certificate] | None, jobs: int,
               head_findings: list[Finding]) -> None:
    findings = head_findings + verify_object(ocfl, object_id, trusted, content=content, jobs=jobs)  # type: ignore[arg-type]
    _count(ocfl, object_id, content, report)
    report.findings += findings
    remaining = findings
    if replica is not None:
        for _ in range(2):  # a restored inventory can reveal content faults it hid
            if not remaining:
                break
            done = [r for f in remaining if (r := repair_finding(ocfl, ocfl_of(replica), f)) is not None]
            if not done:
                break
            report.repaired += done
            remaining = head_findings + verify_object(ocfl, object_id, trusted, content=content, jobs=jobs)  # type: ignore[arg-type]
            report.findings += [f for f in remaining if f not in report.findings]
    report.remaining += remaining
    report.no_trusted_time += untimed_versions(ocfl, object_id)
    report.checked += 1
    report.objects_checked += 1
    report.ok += 0 if remaining else 1


def untimed_versions(ocfl: OcflStore, object_id: str) -> list[UntimedVersion]:
    """The object's versions whose signature carries no signature timestamp token. A missing
    or unreadable signature is not listed: the signature check reports it as a finding."""
    inventory = ocfl.inventory(object_id)
    if inventory is None:
        return []
    obj = ocfl.object_dir(object_id)
    prefix = obj.relative_to(ocfl.root).as_posix()
    untimed = []
    for version, entry in inventory["versions"].items():
        digest = next((d for d, logical in entry["state"].items() if SIGNATURE_NAME in logical), None)
        content = inventory["manifest"].get(digest, [None])[0] if digest else None
        if content is None or not (obj / content).is_file():
            continue
        try:
            token = signature_timestamp((obj / content).read_bytes())
        except (ValueError, TypeError, KeyError, IndexError):  # not CMS: the signature check reports it
            continue
        if token is None:
            untimed.append(UntimedVersion(object_id=object_id, version=version, path=f"{prefix}/{content}"))
    return untimed


def _count(ocfl: OcflStore, object_id: str, content: object, report: AuditReport) -> None:
    inventory = ocfl.inventory(object_id)
    if inventory is None or content == "none":
        return
    obj = ocfl.object_dir(object_id)
    prefix = obj.relative_to(ocfl.root).as_posix()
    paths = {cp for cps in inventory["manifest"].values() for cp in cps}
    if content != "all":
        paths &= set(content)  # type: ignore[arg-type]
    for cp in sorted(paths):
        report.files_checked += 1
        report.checked_paths.append(f"{prefix}/{cp}")
        if (obj / cp).is_file():
            report.bytes_checked += (obj / cp).stat().st_size


def _expected_digest(ocfl: OcflStore, object_id: str, rel: str) -> str | None:
    inventory = ocfl.inventory(object_id)
    if inventory is None:
        return None
    return next((d for d, cps in inventory["manifest"].items() if rel in cps), None)


def _replica_copy_ok(replica_obj: Path, rel: str, expected: str | None) -> bool:
    """Is the replica's file a good copy: matching the primary inventory, or its own sidecar for inventories?"""
    candidate = replica_obj / rel
    if not candidate.is_file():
        return False
    if rel.endswith(INVENTORY):
        sidecar = candidate.with_name(SIDECAR)
        return sidecar.is_file() and sidecar.read_text().split(" ")[0] == hashlib.sha512(
            candidate.read_bytes()).hexdigest()
    if rel.endswith(SIDECAR):
        inventory = candidate.with_name(INVENTORY)
        return inventory.is_file() and candidate.read_text().split(" ")[0] == hashlib.sha512(
            inventory.read_bytes()).hexdigest()
    return expected is not None and digest_file(candidate, ("sha512",))[1]["sha512"] == expected


def repair_finding(ocfl: OcflStore, replica: OcflStore, finding: Finding) -> Repair | None:
    """Fix one finding in the primary if a good replica copy exists; None when it cannot be fixed here."""
    obj = ocfl.object_dir(finding.object_id)
    prefix = obj.relative_to(ocfl.root).as_posix()
    if not finding.path.startswith(prefix + "/") or finding.kind == "signature" or finding.kind in HEAD_KINDS:
        return None
    rel = finding.path[len(prefix) + 1:]
    if finding.kind == "extra":
        return _quarantine(ocfl, finding, obj / rel)
    expected = _expected_digest(ocfl, finding.object_id, rel)
    replica_obj = replica.object_dir(finding.object_id)
    if not _replica_copy_ok(replica_obj, rel, expected):
        return None
    _restore(ocfl, replica_obj / rel, obj / rel)
    return Repair(object_id=finding.object_id, path=finding.path, kind=finding.kind,
                  action="restored_from_replica", source=str(replica_obj / rel),
                  sha512=digest_file(obj / rel, ("sha512",))[1]["sha512"])


def _restore(ocfl: OcflStore, source: Path, target: Path) -> None:
    """Copy through the staging area, then ``os.replace``: the bad file is never half-overwritten."""
    ocfl.staging_root.mkdir(parents=True, exist_ok=True)
    tmp = ocfl.staging_root / f"repair-{uuid.uuid4().hex}"
    shutil.copyfile(source, tmp)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, target)


def _quarantine(ocfl: OcflStore, finding: Finding, path: Path) -> Repair | None:
    if not path.is_file():
        return None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = ocfl.root / "extensions" / QUARANTINE_EXTENSION / stamp / finding.path
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, target)
    _remove_empty_parents(path.parent, ocfl.object_dir(finding.object_id))
    return Repair(object_id=finding.object_id, path=finding.path, kind=finding.kind,
                  action="quarantined", source=str(target))


def _remove_empty_parents(folder: Path, stop: Path) -> None:
    while folder != stop and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def write_audit_report(report: AuditReport, out_dir: Path) -> tuple[Path, Path]:
    """``audit-<time>.json`` and ``audit-<time>.html`` in ``out_dir`` (written atomically)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = report.started.strftime("%Y%m%dT%H%M%S%fZ")
    json_path, html_path = out_dir / f"audit-{stamp}.json", out_dir / f"audit-{stamp}.html"
    _atomic_write(json_path, report.model_dump_json(indent=2).encode("utf-8"))
    _atomic_write(html_path, render_html(report).encode("utf-8"))
    return json_path, html_path


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _rows(findings: list[Finding]) -> str:
    cells = ("object_id", "path", "kind", "expected", "actual", "reason")
    return "".join("<tr>" + "".join(f"<td>{html.escape(str(getattr(f, c) or ''))}</td>" for c in cells) + "</tr>"
                   for f in findings)


def render_html(report: AuditReport) -> str:
    """A self-contained page: summary, findings as found, repairs, what remains."""
    esc = html.escape
    head = "<tr><th>AIP</th><th>文件 File</th><th>类型 Kind</th><th>应为 Expected</th><th>实为 Actual</th><th>说明 Reason</th></tr>"
    repairs = "".join(
        f"<tr><td>{esc(r.object_id)}</td><td>{esc(r.path)}</td><td>{esc(r.kind)}</td>"
        f"<td>{esc(r.action)}</td><td>{esc(r.source or '')}</td><td>{esc(r.sha512 or '')}</td></tr>"
        for r in report.repaired)
    untimed = "".join(f"<tr><td>{esc(u.object_id)}</td><td>{esc(u.version)}</td><td>{esc(u.path)}</td>"
                      f"<td>{esc(u.note)}</td></tr>" for u in report.no_trusted_time)
    status = "通过 PASS" if not report.remaining else "未通过 FAIL"
    return f"""<!doctype html><html lang="zh"><head><meta charset="utf-8"><title>Fixity audit {esc(report.started.isoformat())}</title>
<style>body{{font-family:sans-serif}}table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:2px 6px;font-size:90%;word-break:break-all}}</style></head><body>
<h1>固定性检查报告 Fixity audit: {status}</h1>
<table><tr><th>Storage root</th><td>{esc(report.storage_root)}</td></tr><tr><th>Mode</th><td>{esc(report.mode)}</td></tr>
<tr><th>Started</th><td>{esc(report.started.isoformat())}</td></tr><tr><th>Finished</th><td>{esc(report.finished.isoformat() if report.finished else '')}</td></tr>
<tr><th>Objects checked / OK</th><td>{report.checked} / {report.ok}</td></tr><tr><th>Files / bytes read</th><td>{report.files_checked} / {report.bytes_checked}</td></tr></table>
<h2>发现的问题 Findings ({len(report.findings)})</h2><table>{head}{_rows(report.findings)}</table>
<h2>已修复 Repaired ({len(report.repaired)})</h2><table><tr><th>AIP</th><th>File</th><th>Kind</th><th>Action</th><th>Source</th><th>SHA-512 now</th></tr>{repairs}</table>
<h2>仍存在 Remaining ({len(report.remaining)})</h2><table>{head}{_rows(report.remaining)}</table>
<h2>无可信时间 No trusted time ({len(report.no_trusted_time)})</h2><table><tr><th>AIP</th><th>版本 Version</th><th>签名 Signature</th><th>说明 Note</th></tr>{untimed}</table>
</body></html>
"""
