"""The 长期保存 (BC) checks that look at an AIP over time rather than at one package.

BC does not re-run the 归档 check: it asks whether the archive kept the object as it promised —
every version's signature still verifies, a full fixity audit read it within the audit period and
left nothing unrepaired, the catalog's record of versions agrees with the OCFL inventory, and the
preservation log is intact with a recent signed head.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from sqlmodel import col, select

from archive.auditlog import HEADS_DIR, LogHead, verify_log
from archive.signing import SIGNATURE_NAME, SIGNED_FILE, verify_detached

if TYPE_CHECKING:
    from archive.check4 import Check4Context, Result

FULL_AUDIT_PERIOD = timedelta(days=730)  # DA/T 70 §4.3.1, as ``flows/deploy.py`` schedules it
HEAD_MAX_AGE = timedelta(days=7)


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _verdict(problems: list[str], ok_evidence: str) -> Result:
    return ("fail", problems[:50]) if problems else ("pass", [ok_evidence])


def check_signatures_all_versions(ctx: Check4Context) -> Result:
    head = ctx.store.head(ctx.object_id) or 0
    problems = []
    for version in range(1, head + 1):
        files = ctx.store.files(ctx.object_id, version)
        if SIGNATURE_NAME not in files or SIGNED_FILE not in files:
            problems.append(f"v{version}: no signed tag manifest")
            continue
        found = verify_detached(files[SIGNED_FILE].path.read_bytes(), files[SIGNATURE_NAME].path.read_bytes(),
                                f"v{version}/{SIGNATURE_NAME}", ctx.trusted)
        problems += [f"v{version}: {p.message}" for p in found]
    return _verdict(problems, f"the signatures of all {head} versions verify against the catalog's certificates")


def check_fixity_history(ctx: Check4Context) -> Result:
    if ctx.catalog_url is None:
        return "fail", ["no evidence: no catalog given, so no audit history"]
    from archive.catalog import session
    from archive.catalog.models import AipVersion, AuditFinding, AuditRun

    with session(ctx.catalog_url) as s:
        first = s.exec(select(AipVersion).where(AipVersion.aip_id == ctx.aip_id).order_by(AipVersion.version)).first()
        runs = s.exec(select(AuditRun).where(AuditRun.mode == "full", col(AuditRun.finished_at).is_not(None))
                      .order_by(col(AuditRun.finished_at).desc())).all()
        since = _aware(first.created_at) if first else None
        run = next((r for r in runs if since is None or _aware(r.finished_at) >= since), None)  # type: ignore[arg-type]
        if run is None:
            return "fail", ["no evidence: no full fixity audit has read this AIP since it was stored"]
        open_findings = s.exec(select(AuditFinding).where(
            AuditFinding.aip_id == ctx.aip_id, AuditFinding.run_id == run.id,
            AuditFinding.repaired == False)).all()  # noqa: E712 - SQL comparison
    age = datetime.now(timezone.utc) - _aware(run.finished_at)  # type: ignore[arg-type]
    if age > FULL_AUDIT_PERIOD:
        return "fail", [f"the newest full audit {run.id} finished {age.days} days ago, beyond {FULL_AUDIT_PERIOD.days}"]
    if open_findings:
        return "fail", [f"audit {run.id}: {f.kind} {f.path} not repaired" for f in open_findings]
    return "pass", [f"full audit {run.id} finished {run.finished_at:%Y-%m-%d %H:%M} UTC; no unrepaired finding"]


def check_version_record(ctx: Check4Context) -> Result:
    if ctx.catalog_url is None:
        return "fail", ["no evidence: no catalog given"]
    from archive.catalog import session
    from archive.catalog.models import AipVersion

    head = ctx.store.head(ctx.object_id) or 0
    with session(ctx.catalog_url) as s:
        rows = {r.version: r for r in s.exec(select(AipVersion).where(AipVersion.aip_id == ctx.aip_id)).all()}
    problems = [f"v{v} in the catalog, not in storage (head v{head})" for v in sorted(rows) if v > head]
    for version in range(1, head + 1):
        row = rows.get(version)
        stored = ctx.store.files(ctx.object_id, version).get(SIGNED_FILE)
        digest = hashlib.sha256(stored.path.read_bytes()).hexdigest() if stored else "missing"
        if row is None:
            problems.append(f"v{version} stored but not recorded in the catalog")
        elif row.tagmanifest_sha256 != digest:
            problems.append(f"v{version}: catalog tag manifest {row.tagmanifest_sha256[:16]}…, stored {digest[:16]}…")
    return _verdict(problems, f"{head} versions recorded in the catalog with their stored tag manifest digests")


def log_verdict(ctx: Check4Context, max_age: timedelta | None) -> Result:
    """The log chain intact and at least one signed head verifying (no head: no evidence); with
    ``max_age`` the newest head must also be that recent."""
    if ctx.log_dir is None:
        return "fail", ["no evidence: no preservation log folder given"]
    result = verify_log(ctx.log_dir, ctx.trusted)
    if not result.ok:
        return "fail", [p.message for p in result.problems]
    heads = sorted((ctx.log_dir / HEADS_DIR).glob("*.json"))
    if not heads:
        return "fail", [f"no evidence: log chain of {result.entries} entries has no signed head "
                        "(run `juanzong log sign-head`)"]
    newest = LogHead.model_validate_json(heads[-1].read_bytes())
    age = datetime.now(timezone.utc) - _aware(datetime.fromisoformat(newest.signed_at))
    if max_age is not None and age > max_age:
        return "fail", [f"newest signed head {heads[-1].name} is {age.days} days old (at most {max_age.days})"]
    return "pass", [f"log chain of {result.entries} entries intact; {result.heads_checked} signed heads verify, "
                    f"newest {heads[-1].name} at entry {newest.seq}"]


def check_log_heads(ctx: Check4Context) -> Result:
    return log_verdict(ctx, HEAD_MAX_AGE)


LONGTERM_CHECKS = {"signatures_all_versions": check_signatures_all_versions, "fixity_history": check_fixity_history,
                   "version_record": check_version_record, "log_heads": check_log_heads}
