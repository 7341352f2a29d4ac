"""archive/archival_code.py: 档号 by rule, sequential per prefix, unique, never reused."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from archive.archival_code import ArchivalCodeRule, assign_archival_code
from archive.catalog import session
from archive.catalog.models import Case
from schemas.errors import JuanzongError

RULE = ArchivalCodeRule(fonds="J001")


def _case(number: str, *, case_type: str = "民事", retention: str = "60年", closed: date | None = date(2023, 12, 1)) -> Case:
    return Case(case_number=number, court="广州市越秀区人民法院", court_code="粤0104", case_type=case_type,
                procedure="一审", cause_of_action="民间借贷纠纷", filing_date=date(2023, 3, 1),
                closing_date=closed, retention_period=retention)


@pytest.fixture
def catalog(catalog_url: str) -> str:
    url = catalog_url
    with session(url) as s:
        for case in (_case("（2023）粤0104民初1号"), _case("（2023）粤0104民初2号"),
                     _case("（2023）粤0104执3号", case_type="执行", retention="20年"),
                     _case("（2023）粤0104民初4号", retention="永久", closed=None),
                     _case("（2023）粤0104民初5号", retention="长期")):
            s.add(case)
        s.commit()
    return url


def test_codes_follow_the_rule_and_count_per_prefix(catalog: str) -> None:
    with session(catalog) as s:
        codes = [assign_archival_code(s, n, RULE, agent="t") for n in
                 ("（2023）粤0104民初1号", "（2023）粤0104民初2号", "（2023）粤0104执3号", "（2023）粤0104民初4号")]
    assert codes == ["J001-2023-D60-MS-0001", "J001-2023-D60-MS-0002", "J001-2023-D20-ZX-0001",
                     "J001-2023-Y-MS-0001"]
    assert all(RULE.is_well_formed(c) for c in codes)
    assert not RULE.is_well_formed("J001-2023-D60-MS-1") and not RULE.is_well_formed("J002-2023-Y-MS-0001")


def test_assignment_is_idempotent_and_never_reuses_a_number(catalog: str) -> None:
    with session(catalog) as s:
        first = assign_archival_code(s, "（2023）粤0104民初1号", RULE, agent="t")
        assert assign_archival_code(s, "（2023）粤0104民初1号", RULE, agent="t") == first
        row = s.get(Case, "（2023）粤0104民初1号")
        row.archival_code = None  # a code withdrawn from its case is still spent
        s.add(row)
        s.commit()
        assert assign_archival_code(s, "（2023）粤0104民初2号", RULE, agent="t") == "J001-2023-D60-MS-0002"


def test_unmapped_retention_is_refused(catalog: str) -> None:
    with session(catalog) as s, pytest.raises(JuanzongError) as caught:
        assign_archival_code(s, "（2023）粤0104民初5号", RULE, agent="t")
    assert caught.value.code == "E442"
