"""Retention (保管期限) and the steps before disposal: due dates, appraisal, approval, legal holds.

A case's retention is counted from 1 January of the year after its judgment took effect
(生效日期; the 结案日期 stands in when the station sent none): 20年 for a judgment effective in
2001 runs 2002–2021 and falls due on 2022-01-01. 永久 never falls due. At its due date a case is
appraised (鉴定) by an archivist: keep it longer (so many more years) or dispose of it; the
decision takes effect only when a second person approves it. A legal hold blocks disposal until
released. Every step is a catalog event, so it is also in the hash-chained log. Disposal itself
(removing content, the signed tombstone) is ``flows/dispose_case.py``.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlmodel import Session, col, select

from archive.catalog.models import Appraisal, Case, LegalHold, Tombstone, utcnow
from archive.catalog.record import record_event
from archive.permissions import require_person
from schemas.errors import InputRejected, NotFound

PERIOD_YEARS = {"60年": 60, "20年": 20, "长期": 60, "短期": 20}
PERMANENT = "永久"
Decision = Literal["keep", "dispose"]


class RetentionStatus(BaseModel):
    """Where a case stands: its due date, why, and what blocks or awaits its disposal."""

    model_config = ConfigDict(frozen=True)

    case_number: str
    archival_code: str | None
    retention_period: str
    basis: str  # 生效日期 2001-03-02 | 结案日期 … (no 生效日期 recorded) | 永久
    due_date: date | None  # None: 永久, never due
    due: bool
    held: bool
    appraisal: str | None  # "<decision> <status> <id>"
    status: str


def due_date(retention_period: str, effective: date, keep_years: int = 0) -> date | None:
    """1 January after the last year of the period, counted from the year after ``effective``."""
    if retention_period == PERMANENT:
        return None
    years = PERIOD_YEARS.get(retention_period)
    if years is None:
        raise ValueError(f"保管期限 {retention_period!r} is not 永久, 60年 or 20年")
    return date(effective.year + years + keep_years + 1, 1, 1)


def start_of(case: Case) -> tuple[date | None, str]:
    """The date retention counts from (the year after it), and a phrase saying which date it is."""
    if case.effective_date:
        return case.effective_date, f"生效日期 {case.effective_date}"
    if case.closing_date:
        return case.closing_date, f"结案日期 {case.closing_date} (no 生效日期 recorded)"
    return None, "no 生效日期 or 结案日期 recorded"


def _kept_years(s: Session, case_number: str) -> int:
    rows = s.exec(select(Appraisal).where(Appraisal.case_number == case_number, Appraisal.decision == "keep",
                                          Appraisal.status == "approved")).all()
    return sum(r.keep_years or 0 for r in rows)


def case_due_date(s: Session, case: Case) -> tuple[date | None, str]:
    """(due date, basis) with every approved keep-longer decision added; None when never due."""
    if case.retention_period == PERMANENT:
        return None, PERMANENT
    start, basis = start_of(case)
    if start is None:
        return None, basis
    return due_date(case.retention_period, start, _kept_years(s, case.case_number)), basis


def active_hold(s: Session, case_number: str) -> LegalHold | None:
    return s.exec(select(LegalHold).where(LegalHold.case_number == case_number,
                                          col(LegalHold.released_at).is_(None))).first()


def open_appraisal(s: Session, case_number: str) -> Appraisal | None:
    """The pending or approved, not yet executed, dispose decision of a case (at most one)."""
    return s.exec(select(Appraisal).where(Appraisal.case_number == case_number,
                                          col(Appraisal.status).in_(["pending", "approved"]))
                  .order_by(col(Appraisal.appraised_at).desc())).first()


def status_of(s: Session, case: Case, as_of: date) -> RetentionStatus:
    due, basis = case_due_date(s, case)
    appraisal = open_appraisal(s, case.case_number)
    return RetentionStatus(
        case_number=case.case_number, archival_code=case.archival_code, retention_period=case.retention_period,
        basis=basis, due_date=due, due=due is not None and due <= as_of,
        held=active_hold(s, case.case_number) is not None,
        appraisal=f"{appraisal.decision} {appraisal.status} {appraisal.id}" if appraisal else None,
        status=case.status)


def cases_due(s: Session, as_of: date) -> list[RetentionStatus]:
    """Every case not disposed of whose retention ends on or before ``as_of``, soonest first."""
    cases = s.exec(select(Case).where(Case.status != "disposed", Case.retention_period != PERMANENT)).all()
    found = [status_of(s, c, as_of) for c in cases]
    return sorted((r for r in found if r.due), key=lambda r: (r.due_date, r.case_number))


def _case(s: Session, case_number: str) -> Case:
    case = s.get(Case, case_number)
    if case is None:
        raise NotFound("E503", case_number)
    if case.status == "disposed":
        tomb = s.exec(select(Tombstone).where(Tombstone.case_number == case_number)).first()
        raise InputRejected("E707", case_number, found=f"{tomb.disposed_at:%Y-%m-%d}" if tomb else "?")
    return case


def require_disposable(s: Session, case: Case, as_of: date) -> date:
    """The case's due date; E703 when not due (or never), E704 under a legal hold."""
    due, basis = case_due_date(s, case)
    if due is None and case.retention_period != PERMANENT:
        raise InputRejected("E702", case.case_number, reason=basis)
    if due is None:
        raise InputRejected("E703", case.case_number, found=f"never ({basis})")
    if due > as_of:
        raise InputRejected("E703", case.case_number, found=f"{due} ({basis})")
    hold = active_hold(s, case.case_number)
    if hold is not None:
        raise InputRejected("E704", case.case_number, found=f"{hold.id} by {hold.placed_by}: {hold.reason}")
    return due


def appraise(s: Session, case_number: str, *, decision: Decision, by: str, reason: str,
             keep_years: int | None = None, as_of: date) -> Appraisal:
    """An archivist's 鉴定 decision, pending a second person's approval (the caller commits)."""
    case = _case(s, case_number)
    by = require_person(s, by, "retention.appraise", case_number)
    if not reason.strip():
        raise InputRejected("E708", case_number, reason="a decision needs its reason")
    if decision == "keep" and not (keep_years and keep_years > 0):
        raise InputRejected("E708", case_number, reason="keep needs the number of further years")
    if decision == "dispose":
        require_disposable(s, case, as_of)
    earlier = open_appraisal(s, case_number)
    if earlier is not None:
        earlier.status = "superseded"
        s.add(earlier)
    row = Appraisal(id="APR-" + uuid.uuid4().hex[:12].upper(), case_number=case_number, decision=decision,
                    keep_years=keep_years if decision == "keep" else None, reason=reason, appraised_by=by)
    s.add(row)
    record_event(s, "appraisal", agent=by, aip_id=case.aip_id, object_path=row.id,
                 detail=f"{case_number}: {decision}{f' {keep_years} more years' if keep_years else ''} ({reason})")
    return row


def approve(s: Session, appraisal_id: str, *, by: str) -> Appraisal:
    """The second person's approval; never the appraiser's own (E706)."""
    row = s.get(Appraisal, appraisal_id)
    if row is None:
        raise NotFound("E705", appraisal_id, found="no such appraisal")
    if row.status != "pending":
        raise InputRejected("E705", appraisal_id, found=row.status)
    by = require_person(s, by, "retention.approve", appraisal_id)
    if by == row.appraised_by:
        raise InputRejected("E706", appraisal_id, found=by)
    row.status, row.approved_by, row.approved_at = "approved", by, utcnow()
    s.add(row)
    case = s.get_one(Case, row.case_number)
    record_event(s, "appraisal approval", agent=by, aip_id=case.aip_id, object_path=row.id,
                 detail=f"{row.case_number}: {row.decision} appraised by {row.appraised_by} approved")
    return row


def place_hold(s: Session, case_number: str, *, by: str, reason: str) -> LegalHold:
    case = _case(s, case_number)
    by = require_person(s, by, "retention.hold", case_number)
    hold = LegalHold(id="HOLD-" + uuid.uuid4().hex[:12].upper(), case_number=case_number, reason=reason, placed_by=by)
    s.add(hold)
    record_event(s, "legal hold", agent=by, aip_id=case.aip_id, object_path=hold.id, detail=f"{case_number}: {reason}")
    return hold


def release_hold(s: Session, case_number: str, *, by: str, reason: str) -> LegalHold:
    case = _case(s, case_number)
    by = require_person(s, by, "retention.hold", case_number)
    hold = active_hold(s, case_number)
    if hold is None:
        raise NotFound("E704", case_number, found="no active hold")
    hold.released_by, hold.released_at = by, utcnow()
    s.add(hold)
    record_event(s, "legal hold release", agent=by, aip_id=case.aip_id, object_path=hold.id,
                 detail=f"{case_number}: {reason}")
    return hold


def approved_disposal(s: Session, case_number: str, as_of: date) -> tuple[Case, Appraisal, date]:
    """What a disposal needs, checked again at the moment of disposal: an approved dispose
    decision, the case due, no legal hold."""
    case = _case(s, case_number)
    appraisal = open_appraisal(s, case_number)
    if appraisal is None or appraisal.decision != "dispose" or appraisal.status != "approved":
        state = f"{appraisal.decision} {appraisal.status}" if appraisal else "no appraisal"
        raise InputRejected("E705", case_number, found=state)
    return case, appraisal, require_disposable(s, case, as_of)


def today() -> date:
    return datetime.now().date()
