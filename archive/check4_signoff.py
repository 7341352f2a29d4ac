"""Sign-offs of manual 四性检测 items: a named person's decision on an item no machine can check.

A sign-off is a catalog event (``check4 sign-off``), so it also enters the hash-chained log. It
names the item and what was checked (``check4:GD-2-11@v3``: the AIP's version, or a transfer
package's digest for YJ), so a sign-off never carries over to a version or package nobody looked
at. Only archivists and auditors sign off (``archive.permissions``); a report takes the newest sign-off of
each item.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlmodel import Session, col, select

from archive.catalog.models import PreservationEvent
from archive.catalog.record import record_event
from archive.permissions import require_person

SIGNOFF_EVENT = "check4 sign-off"
Decision = Literal["pass", "fail"]


class SignOff(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str  # GD-2-11
    subject: str  # v3, or the package digest
    by: str
    decision: Decision
    note: str
    at: datetime


def target_of(code: str, subject: str) -> str:
    return f"check4:{code}@{subject}"


def sign_off(s: Session, *, code: str, subject: str, by: str, decision: Decision, note: str,
             aip_id: str | None = None) -> SignOff:
    """Record ``by``'s decision on the manual item ``code`` of ``subject`` (the caller commits)."""
    target = target_of(code, subject)
    person = require_person(s, by, "check4.signoff", target)
    event = record_event(s, SIGNOFF_EVENT, agent=person, aip_id=aip_id,
                         object_path=target, outcome="success" if decision == "pass" else "failure",
                         detail=f"{code} {decision}: {note}")
    return SignOff(code=code, subject=subject, by=event.agent, decision=decision, note=note, at=event.event_time)


def signoffs_for(s: Session, subject: str, codes: list[str]) -> dict[str, SignOff]:
    """The newest sign-off of each of ``codes`` for ``subject``."""
    targets = {target_of(c, subject): c for c in codes}
    rows = s.exec(select(PreservationEvent).where(PreservationEvent.event_type == SIGNOFF_EVENT,
                                                  col(PreservationEvent.object_path).in_(list(targets)))
                  .order_by(PreservationEvent.event_time)).all()
    out = {}
    for row in rows:
        code = targets[row.object_path or ""]
        note = row.detail.split(": ", 1)[1] if ": " in row.detail else ""
        out[code] = SignOff(code=code, subject=subject, by=row.agent, note=note, at=row.event_time,
                            decision="pass" if row.outcome == "success" else "fail")
    return out
