"""档号 (archival code): 全宗号-年度-保管期限-类别-案卷号, unique and never reused.

Rule (DA/T 13 shape; configurable through ``ArchivalCodeRule``)::

    J001-2023-D60-MS-0007
    │    │    │   │  └ 案卷号: 4 digits, sequential per (全宗, 年度, 保管期限, 类别), from 0001
    │    │    │   └ 类别: case type code (民事 MS, 刑事 XS, 行政 XZ, 执行 ZX, 赔偿 PC, other QT)
    │    │    └ 保管期限: 永久 Y, 60年 D60, 20年 D20
    │    └ 年度: the year the case closed (结案年度), else the filing year
    └ 全宗号: ``settings.fonds_code``

Latin codes keep the 档号 safe in file names, URLs and OCFL paths; the Chinese meaning is in
the tables below. No counter table: the next 案卷号 is one more than the highest number
ever issued under the prefix, taken from the catalog's ``case.archival_code`` (a UNIQUE
column, so two concurrent assignments cannot both commit the same code) and from the
``metadata modification`` events that record every assignment (append-only), so a number
stays used even if its case row were ever changed.
"""

from __future__ import annotations

import re
from datetime import date

from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from archive.catalog.models import Case, PreservationEvent
from archive.catalog.record import record_event
from schemas.errors import JuanzongError

ASSIGNMENT_EVENT = "metadata modification"
ASSIGNMENT_PREFIX = "assigned 档号 "

RETENTION_CODES = {"永久": "Y", "60年": "D60", "20年": "D20"}
CATEGORY_CODES = {"民事": "MS", "刑事": "XS", "行政": "XZ", "执行": "ZX", "赔偿": "PC"}
OTHER_CATEGORY = "QT"


class ArchivalCodeRule(BaseModel):
    """The parts and their codes; the separator and number width are part of the rule."""

    model_config = ConfigDict(frozen=True)

    fonds: str
    separator: str = "-"
    number_width: int = 4
    retention_codes: dict[str, str] = RETENTION_CODES
    category_codes: dict[str, str] = CATEGORY_CODES
    other_category: str = OTHER_CATEGORY

    def prefix(self, case: Case) -> str:
        """全宗号-年度-保管期限-类别 of ``case``; raises E442 when a part cannot be derived."""
        year_source: date | None = case.closing_date or case.filing_date
        if year_source is None:
            raise JuanzongError("E442", case.case_number, reason="no closing or filing date for 年度")
        retention = self.retention_codes.get(case.retention_period)
        if retention is None:
            raise JuanzongError("E442", case.case_number,
                                reason=f"保管期限 {case.retention_period!r} is not one of {sorted(self.retention_codes)}")
        category = self.category_codes.get(case.case_type, self.other_category)
        return self.separator.join([self.fonds, str(year_source.year), retention, category])

    def code(self, prefix: str, number: int) -> str:
        return f"{prefix}{self.separator}{number:0{self.number_width}d}"

    def pattern(self) -> re.Pattern[str]:
        """What a well-formed 档号 under this rule looks like (for 四性检测 item 1-7)."""
        sep = re.escape(self.separator)
        retention = "|".join(map(re.escape, self.retention_codes.values()))
        categories = "|".join(map(re.escape, [*self.category_codes.values(), self.other_category]))
        return re.compile(rf"^{re.escape(self.fonds)}{sep}\d{{4}}{sep}(?:{retention}){sep}(?:{categories})"
                          rf"{sep}\d{{{self.number_width}}}$")

    def is_well_formed(self, code: str) -> bool:
        return bool(self.pattern().match(code))


def _number_of(code: str, prefix: str, rule: ArchivalCodeRule) -> int | None:
    tail = code.removeprefix(prefix + rule.separator)
    return int(tail) if code.startswith(prefix + rule.separator) and tail.isdigit() else None


def highest_number(s: Session, prefix: str, rule: ArchivalCodeRule) -> int:
    """The highest 案卷号 ever issued under ``prefix`` (0 when none)."""
    like = f"{prefix}{rule.separator}%"
    codes = list(s.exec(select(Case.archival_code).where(col(Case.archival_code).like(like))).all())
    details = s.exec(select(PreservationEvent.detail).where(
        PreservationEvent.event_type == ASSIGNMENT_EVENT,
        col(PreservationEvent.detail).like(f"{ASSIGNMENT_PREFIX}{like}"))).all()
    codes += [d.removeprefix(ASSIGNMENT_PREFIX).split(" ", 1)[0] for d in details]
    numbers = [n for c in codes if c and (n := _number_of(c, prefix, rule)) is not None]
    return max(numbers, default=0)


def assign_archival_code(s: Session, case_number: str, rule: ArchivalCodeRule, *, agent: str,
                         aip_id: str | None = None) -> str:
    """The case's 档号: kept if it has one, else the next number under its prefix (committed here).

    Commits the session: the UNIQUE constraint is what makes a code unique, so the assignment
    must reach the database before anyone relies on it. Retries once per collision.
    """
    case = s.get(Case, case_number)
    if case is None:
        raise JuanzongError("E442", case_number, reason="no such case in the catalog")
    if case.archival_code:
        return case.archival_code
    prefix = rule.prefix(case)
    for _attempt in range(5):
        code = rule.code(prefix, highest_number(s, prefix, rule) + 1)
        case.archival_code = code
        s.add(case)
        record_event(s, ASSIGNMENT_EVENT, agent=agent, aip_id=aip_id or case.aip_id,
                     detail=f"{ASSIGNMENT_PREFIX}{code} to {case_number}")
        try:
            s.commit()
            return code
        except IntegrityError:
            s.rollback()
            case = s.get(Case, case_number)
            assert case is not None
            if case.archival_code:
                return case.archival_code
    raise JuanzongError("E442", case_number, reason=f"could not obtain a free number under {prefix}")
