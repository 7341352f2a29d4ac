"""``lawyers authorise`` (issue 14): only for a case the archive holds, values that fit the catalog."""

from __future__ import annotations

from datetime import date

import pytest

from archive.catalog import session
from archive.catalog.models import Case, LawyerAuthorisation
from config.settings import Settings
from dissemination.requests import authorise_lawyer
from schemas.errors import InputRejected, NotFound

CASE = "（2023）粤0114民初6749号"


@pytest.fixture
def catalog_url(tmp_path) -> str:
    url = Settings(home=tmp_path / "home").catalog_url
    with session(url) as s:
        s.add(Case(case_number=CASE, court="广州市海珠区人民法院", court_code="粤0114", case_type="民初",
                   procedure="一审", cause_of_action="买卖合同纠纷", filing_date=date(2023, 3, 1)))
        s.commit()
    return url


def _authorise(url: str, **kw: str) -> int:
    values = {"case_number": CASE, "lawyer_name": "李律师", "licence_number": "14401201910123456",
              "party_name": "张三", **kw}
    return authorise_lawyer(url, **values)


def test_a_case_that_does_not_exist_is_refused_E503(catalog_url: str) -> None:
    with pytest.raises(NotFound) as caught:
        _authorise(catalog_url, case_number="（2099）粤0114民初1号")
    assert caught.value.code == "E503"
    assert _authorise(catalog_url) > 0


@pytest.mark.parametrize("field,value", [("lawyer_name", "律" * 101), ("licence_number", "1" * 65),
                                         ("party_name", "张" * 201), ("lawyer_name", "  ")])
def test_values_that_do_not_fit_are_refused_E155(catalog_url: str, field: str, value: str) -> None:
    with pytest.raises(InputRejected) as caught:
        _authorise(catalog_url, **{field: value})
    assert caught.value.code == "E155"
    with session(catalog_url) as s:
        assert s.query(LawyerAuthorisation).count() == 0
