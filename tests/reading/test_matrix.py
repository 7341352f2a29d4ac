"""The authorisation matrix of issue 5: party, lawyer with and without authorisation, party of
another case, archivist — against an in-progress and an archived case — for search, request
and download. Nobody gets what they should not, and every denial has a stable code and a reason."""

from __future__ import annotations

import zipfile

import pytest
from sqlmodel import select

from archive.catalog import session
from archive.catalog.models import DisseminationRequest, PreservationEvent
from dissemination.search.base import SearchQuery
from dissemination.search.registry import open_index
from dissemination.search_access import access_for
from dissemination.watermark import mask_id
from tests.reading.conftest import (
    ARCHIVIST,
    LAWYER,
    LAWYER_UNAUTHORISED,
    OTHER_PARTY,
    PARTY,
    body_for,
    headers_for,
    pdf_texts,
)

PEOPLE = {"party": PARTY, "lawyer": LAWYER, "lawyer_unauthorised": LAWYER_UNAUTHORISED,
          "other_party": OTHER_PARTY, "archivist": ARCHIVIST}
# (who, case) -> (status, code) of POST /requests
REQUEST_MATRIX = {
    ("party", "in_progress"): ("issued", None),
    ("party", "archived"): ("pending_approval", "E502"),
    ("lawyer", "in_progress"): ("issued", None),
    ("lawyer", "archived"): ("pending_approval", "E502"),
    ("lawyer_unauthorised", "in_progress"): ("refused", "E501"),
    ("lawyer_unauthorised", "archived"): ("refused", "E501"),
    ("other_party", "in_progress"): ("refused", "E500"),
    ("other_party", "archived"): ("refused", "E500"),
    ("archivist", "in_progress"): ("issued", None),
    ("archivist", "archived"): ("issued", None),
}
DELIBERATION = "评议"  # words of the 副卷's 合议庭评议笔录, never shown to a reader


def _as(who_key: str) -> str | None:
    who = PEOPLE[who_key]
    return {"party": f"party:{who.id_number}", "lawyer": f"lawyer:{who.licence_number}",
            "archivist": None}[who.role]


def _approved(home, who, case_number: str) -> bool:
    """Whether an archivist approved one of this reader's requests for the case (other tests
    of the session may have done so); only then may an archived case show in their search."""
    mine = (DisseminationRequest.licence_number == who.licence_number if who.role == "lawyer"
            else DisseminationRequest.requester_id == mask_id(who.id_number))
    with session(home.settings.catalog_url) as s:
        rows = s.exec(select(DisseminationRequest).where(
            DisseminationRequest.case_number == case_number, DisseminationRequest.role == who.role, mine,
            DisseminationRequest.status.in_(("approved", "issued")))).all()
    return bool(rows)


def _case(home, which: str) -> str:
    return home.in_progress if which == "in_progress" else home.archived


@pytest.fixture(scope="module")
def requests_made(home, client) -> dict[tuple[str, str], dict]:
    """Every cell of the matrix asked once through the reading API."""
    made = {}
    for who_key, which in REQUEST_MATRIX:
        who = PEOPLE[who_key]
        r = client.post("/requests", json=body_for(who, _case(home, which)), headers=headers_for(home, who))
        assert r.status_code == 201, r.text
        made[(who_key, which)] = r.json()
    return made


@pytest.mark.parametrize("cell", sorted(REQUEST_MATRIX))
def test_request(requests_made, cell) -> None:
    out = requests_made[cell]
    assert (out["status"], out["code"]) == REQUEST_MATRIX[cell]
    if out["status"] != "issued":
        assert " / " in out["reason"], "every denial or hold says why, in 中文 and English"
        assert out["files"] == []
    else:
        assert out["files"] and all(DELIBERATION not in f for f in out["files"])


def test_every_request_decision_is_an_event(home, requests_made) -> None:
    with session(home.settings.catalog_url) as s:
        details = [e.detail for e in s.exec(select(PreservationEvent).where(
            PreservationEvent.event_type == "access decision")).all()]
    for out in requests_made.values():
        assert [d for d in details if d.startswith(out["request_id"]) and out["status"] in d]


def test_archivist_role_cannot_be_claimed_by_the_reading_service(home, client) -> None:
    r = client.post("/requests", json=body_for(ARCHIVIST, home.in_progress),
                    headers={"X-API-Key": home.service_key})
    assert (r.json()["status"], r.json()["code"]) == ("refused", "E509")


# --- search ----------------------------------------------------------------------------------

SEARCH_MATRIX = {  # who -> which cases' readable text they find (archived: only once approved)
    "party": {"in_progress"},
    "lawyer": {"in_progress"},
    "lawyer_unauthorised": set(),
    "other_party": set(),
    "archivist": {"in_progress", "archived"},
}


@pytest.mark.parametrize("who_key", sorted(SEARCH_MATRIX))
def test_search(home, who_key) -> None:
    index = open_index(home.settings)
    access = access_for(home.settings, _as(who_key))
    seen = {h.case_number for h in index.search(SearchQuery(text="", access=access, size=100)).hits}
    expected = {_case(home, w) for w in SEARCH_MATRIX[who_key]}
    if who_key in ("party", "lawyer") and _approved(home, PEOPLE[who_key], home.archived):
        expected.add(home.archived)
    assert seen == expected
    deliberation = index.count(SearchQuery(text=DELIBERATION, access=access))
    assert (deliberation > 0) == (who_key == "archivist"), "副卷 text only for the archivist"


def test_lawyer_finds_an_archived_case_once_an_archivist_approved_the_request(home, client) -> None:
    lawyer = PEOPLE["lawyer"]
    r = client.post("/requests", json=body_for(lawyer, home.archived), headers=headers_for(home, lawyer))
    assert r.json()["status"] == "pending_approval", r.text
    before = access_for(home.settings, _as("lawyer")).case_numbers
    assert (home.archived in before) == _approved(home, lawyer, home.archived)
    decided = client.post(f"/requests/{r.json()['request_id']}/approve",
                          headers={"X-API-Key": home.archivist_key})
    assert decided.status_code == 200, decided.text
    assert home.archived in access_for(home.settings, _as("lawyer")).case_numbers
    assert home.archived not in access_for(home.settings, _as("lawyer_unauthorised")).case_numbers


# --- download --------------------------------------------------------------------------------

def _link(client, home, request_id: str, who_key: str):
    who = PEOPLE[who_key]
    params = {} if who.role == "archivist" else {"requester_id": who.id_number}
    return client.get(f"/requests/{request_id}/link", params=params, headers=headers_for(home, who))


@pytest.mark.parametrize("cell", sorted(REQUEST_MATRIX))
@pytest.mark.parametrize("who_key", sorted(PEOPLE))
def test_download_link(home, client, requests_made, cell, who_key) -> None:
    """Only the requester (and an archivist) gets a link, and only to an issued copy."""
    out = requests_made[cell]
    r = _link(client, home, out["request_id"], who_key)
    if out["status"] != "issued":
        assert (r.status_code, r.json()["error"]["code"]) == (409, "E512")
    elif who_key == cell[0] or who_key == "archivist":
        assert r.status_code == 200, r.text
    else:
        assert (r.status_code, r.json()["error"]["code"]) == (403, "E513")
        assert r.json()["error"]["message"]


def test_download_by_link_is_the_sealed_dip_and_recorded(home, client, requests_made, tmp_path) -> None:
    out = requests_made[("party", "in_progress")]
    link = _link(client, home, out["request_id"], "party").json()
    r = client.get(link["url"])
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    (tmp_path / "dip.zip").write_bytes(r.content)
    with zipfile.ZipFile(tmp_path / "dip.zip") as zf:
        names = [n.rsplit("/", 1)[-1] for n in zf.namelist()]
    assert "manifest.json" in names
    texts = pdf_texts(tmp_path / "dip.zip", tmp_path)
    for name, text in texts.items():
        for page in text.split("\f"):
            compact = "".join(page.split())
            assert PARTY.name in compact and out["request_id"] in compact, name
        assert DELIBERATION not in "".join(text.split()).replace("仅供本案阅卷使用", ""), name
    with session(home.settings.catalog_url) as s:
        downloads = s.exec(select(PreservationEvent).where(PreservationEvent.event_type == "download")).all()
    assert [e for e in downloads if out["request_id"] in e.detail]
