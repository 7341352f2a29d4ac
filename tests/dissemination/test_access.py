"""dissemination/access.py: the authorisation matrix."""

from __future__ import annotations

import pytest

from dissemination.access import CaseFacts, Requester, decide, reader_scope

PARTY = Requester(name="叶英霞", id_number="440103197912222756", role="party")
WRONG_ID = Requester(name="叶英霞", id_number="440103197912220000", role="party")
OTHER_PARTY = Requester(name="王小明", id_number="440106198001011234", role="party")
LAWYER = Requester(name="陈律师", id_number="440104198503035678", role="lawyer", licence_number="14401201910123456")
LAWYER_UNAUTHORISED = Requester(name="林律师", id_number="440104198607078765", role="lawyer",
                                licence_number="14401201810654321")
LAWYER_NO_LICENCE = Requester(name="陈律师", id_number="440104198503035678", role="lawyer")
ARCHIVIST = Requester(name="档案员", id_number="A001", role="archivist")


def _case(status: str, number: str = "（2023）粤0114民初6749号") -> CaseFacts:
    return CaseFacts(case_number=number, status=status,
                     parties=(("广州德润物业管理有限公司", ""), ("叶英霞", "440103197912222756")),
                     lawyer_authorisations=(("陈律师", "14401201910123456"),))


OTHER_CASE = CaseFacts(case_number="（2023）粤01民终3683号", status="in_progress",
                       parties=(("王小明", "440106198001011234"),))

MATRIX = [
    (PARTY, "in_progress", "issued", None),
    (PARTY, "closed", "issued", None),
    (PARTY, "archived", "pending_approval", "E502"),
    (WRONG_ID, "in_progress", "refused", "E500"),
    (OTHER_PARTY, "in_progress", "refused", "E500"),
    (OTHER_PARTY, "archived", "refused", "E500"),
    (LAWYER, "in_progress", "issued", None),
    (LAWYER, "archived", "pending_approval", "E502"),
    (LAWYER_UNAUTHORISED, "in_progress", "refused", "E501"),
    (LAWYER_UNAUTHORISED, "archived", "refused", "E501"),
    (LAWYER_NO_LICENCE, "in_progress", "refused", "E506"),
    (ARCHIVIST, "in_progress", "issued", None),
    (ARCHIVIST, "archived", "issued", None),
]


@pytest.mark.parametrize(("who", "status", "outcome", "code"), MATRIX)
def test_decide_matrix(who: Requester, status: str, outcome: str, code: str | None) -> None:
    decision = decide(who, _case(status))
    assert (decision.status, decision.code) == (outcome, code)
    if outcome != "issued":
        assert decision.reason and any("\u4e00" <= c <= "\u9fff" for c in decision.reason)
        assert any(c.isascii() and c.isalpha() for c in decision.reason)


@pytest.mark.parametrize("who", [PARTY, LAWYER, ARCHIVIST])
def test_unknown_case_refused(who: Requester) -> None:
    decision = decide(who, None)
    assert (decision.status, decision.code) == ("refused", "E503")


def test_company_party_without_id_cannot_match_blank_id() -> None:
    blank = Requester(name="广州德润物业管理有限公司", id_number="", role="party")
    assert decide(blank, _case("in_progress")).code == "E500"


def test_reader_scope() -> None:
    cases = [_case("in_progress"), _case("archived", "（2022）粤0114民初1号"), OTHER_CASE]
    assert reader_scope(PARTY, cases) == (False, ("（2023）粤0114民初6749号",), True)
    assert reader_scope(OTHER_PARTY, cases) == (False, ("（2023）粤01民终3683号",), True)
    assert reader_scope(LAWYER_UNAUTHORISED, cases) == (False, (), True)
    assert reader_scope(ARCHIVIST, cases).all_cases is True
