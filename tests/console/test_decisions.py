"""Decisions taken in the console reach the archive: a held change approved by an archivist makes
a new AIP version that carries it, and the decision names the person."""

from __future__ import annotations

from sqlmodel import select

from archive.catalog import session
from archive.catalog.models import Aip, Case, PreservationEvent
from flows.case_change import list_one
from tests.console.conftest import NEW_PARTY, ROLE_USERS


def test_approving_a_held_change_makes_a_version_naming_the_archivist(as_role, console_home):
    url = console_home.settings.catalog_url
    client, csrf = as_role("archivist")
    with session(url) as s:
        head = s.get(Aip, console_home.aip_id).head_version
    page = client.get("/console/changes/held-parties-change")
    assert page.status_code == 200 and NEW_PARTY["name"] in page.text
    r = client.post("/console/changes/held-parties-change/approve", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303, r.text[:500]
    change = list_one(console_home.settings, "held-parties-change")
    assert change.status == "approved" and change.decided_by == "user:li.archivist"
    with session(url) as s:
        assert s.get(Aip, console_home.aip_id).head_version == change.version == head + 1
        assert NEW_PARTY["name"] in {p["name"] for p in s.get(Case, console_home.archived_case).parties}
        events = s.exec(select(PreservationEvent).where(PreservationEvent.aip_id == console_home.aip_id,
                                                        PreservationEvent.agent == "user:li.archivist")).all()
    assert events, "the decision is a preservation event naming the archivist"
    again = client.post("/console/changes/held-parties-change/approve", data={"csrf": csrf})
    assert again.status_code in (409, 422) and "E167" in again.text


def test_the_creator_of_a_request_is_not_offered_its_approval(as_role, console_home, tmp_path):
    """Four eyes in the console: a request a console archivist created (``--by user:NAME``) shows
    them no approve button and their POST is refused (E518); a request another archivist
    created shows them the button."""
    from dissemination.access import Requester
    from flows.disseminate import ReadingRequest, disseminate
    from ingest.sample import SAMPLE_READER

    creator = f"user:{ROLE_USERS['archivist']}"
    party = Requester(name=SAMPLE_READER["name"], id_number=SAMPLE_READER["id_number"], role="party")
    own = disseminate(ReadingRequest(case_number=console_home.archived_case, requester=party,
                                     out_dir=tmp_path / "dip", created_by=creator), console_home.settings)
    assert own.status == "pending_approval", own
    client, csrf = as_role("archivist")
    page = client.get(f"/console/requests/{own.request_id}")
    assert page.status_code == 200 and creator in page.text
    assert 'id="approve"' not in page.text and 'id="four-eyes"' in page.text
    assert f'action="/console/requests/{own.request_id}/refuse"' in page.text
    r = client.post(f"/console/requests/{own.request_id}/approve", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 409 and "E518" in r.text, r.text[:500]
    others = client.get(f"/console/requests/{console_home.request_id}")
    assert 'id="approve"' in others.text and 'id="four-eyes"' not in others.text
