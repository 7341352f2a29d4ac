"""An archivist's approval and refusal (API and CLI), notifications, signed links, OpenAPI."""

from __future__ import annotations

import json
import time

import pytest
from sqlmodel import select
from typer import Typer
from typer.testing import CliRunner

from archive.catalog import session
from archive.catalog.models import Notification, PreservationEvent
from api.reading import link_secret, sign_link
from tests.reading.conftest import LAWYER, PARTY, body_for, headers_for


def _pending(home, client, who=PARTY) -> str:
    r = client.post("/requests", json=body_for(who, home.archived), headers=headers_for(home, who))
    assert r.json()["status"] == "pending_approval", r.text
    return r.json()["request_id"]


def _notifications(home, request_id: str) -> list[str]:
    with session(home.settings.catalog_url) as s:
        rows = s.exec(select(Notification).where(Notification.request_id == request_id)
                      .order_by(Notification.created_at)).all()
    return [r.body.split(": ", 1)[1].split(" ")[0] for r in rows]


def _events(home, request_id: str, event_type: str = "access decision") -> list[PreservationEvent]:
    with session(home.settings.catalog_url) as s:
        return [e for e in s.exec(select(PreservationEvent).where(
            PreservationEvent.event_type == event_type)).all() if e.detail.startswith(request_id)]


def test_approve_issues_and_notifies(home, client) -> None:
    rid = _pending(home, client)
    refused = client.post(f"/requests/{rid}/approve", headers={"X-API-Key": home.service_key})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "E509")
    r = client.post(f"/requests/{rid}/approve", headers={"X-API-Key": home.archivist_key})
    assert r.status_code == 200, r.text
    view = r.json()["request"]
    assert (view["status"], view["decided_by"]) == ("issued", home.archivist_id) and view["decided_at"]
    files = client.get(f"/requests/{rid}/files", headers={"X-API-Key": home.service_key}).json()
    assert files and {f["name"] for f in files} <= set(r.json()["files"])
    assert _notifications(home, rid) == ["pending_approval", "issued"]
    approved = [e for e in _events(home, rid) if e.agent == home.archivist_id]
    assert len(approved) == 1 and "approved" in approved[0].detail
    validated = {e.object_path: e for e in _events(home, rid, "validation")}
    assert f"{rid}/00-卷内目录.pdf" in validated and len(validated) > 1  # the contents and the copies
    assert {(e.agent.split()[0], e.outcome) for e in validated.values()} == {("veraPDF", "pass")}, \
        [e.detail for e in validated.values() if e.outcome != "pass"]
    again = client.post(f"/requests/{rid}/approve", headers={"X-API-Key": home.archivist_key})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "E508")


def test_refuse_needs_a_reason_and_is_told(home, client) -> None:
    rid = _pending(home, client, LAWYER)
    archivist = {"X-API-Key": home.archivist_key}
    assert client.post(f"/requests/{rid}/refuse", json={"reason": ""}, headers=archivist).status_code == 422
    r = client.post(f"/requests/{rid}/refuse", json={"reason": "委托期限已过"}, headers=archivist)
    assert r.status_code == 200, r.text
    assert (r.json()["request"]["status"], r.json()["request"]["reason"]) == ("refused", "委托期限已过")
    assert _notifications(home, rid) == ["pending_approval", "refused"]
    assert [e.outcome for e in _events(home, rid) if e.agent == home.archivist_id] == ["failure"]
    link = client.get(f"/requests/{rid}/link", params={"requester_id": LAWYER.id_number},
                      headers={"X-API-Key": home.service_key})
    assert (link.status_code, link.json()["error"]["code"]) == (409, "E512")


def test_queue_is_for_archivists(home, client) -> None:
    rid = _pending(home, client)
    assert client.get("/requests", headers={"X-API-Key": home.service_key}).status_code == 403
    queue = client.get("/requests", params={"status": "pending_approval"},
                       headers={"X-API-Key": home.archivist_key}).json()
    assert rid in {q["request_id"] for q in queue} and {q["status"] for q in queue} == {"pending_approval"}
    assert client.get(f"/requests/{rid}", headers={"X-API-Key": "wrong"}).json()["error"]["code"] == "E515"
    assert client.get("/requests/REQ-NONE", headers={"X-API-Key": home.service_key}).status_code == 404


def test_signed_links_expire_and_bind_to_their_request(home, client) -> None:
    r = client.post("/requests", json=body_for(PARTY, home.in_progress), headers=headers_for(home, PARTY))
    rid = r.json()["request_id"]
    secret = link_secret(home.settings)
    past = int(time.time()) - 1
    expired = client.get(f"/requests/{rid}/dip", params={"expires": past, "token": sign_link(secret, rid, past)})
    assert (expired.status_code, expired.json()["error"]["code"]) == (410, "E510")
    future = int(time.time()) + 60
    forged = client.get(f"/requests/{rid}/dip", params={"expires": future + 1,
                                                        "token": sign_link(secret, rid, future)})
    assert (forged.status_code, forged.json()["error"]["code"]) == (403, "E511")
    other = client.get(f"/requests/OTHER/dip", params={"expires": future, "token": sign_link(secret, rid, future)})
    assert other.status_code == 403
    link = client.get(f"/requests/{rid}/link", params={"requester_id": PARTY.id_number},
                      headers={"X-API-Key": home.service_key}).json()
    ttl = home.settings.dip_link_ttl_hours * 3600
    from datetime import datetime

    assert abs(datetime.fromisoformat(link["expires_at"]).timestamp() - time.time() - ttl) < 60
    assert client.get(link["url"]).status_code == 200


def test_openapi_lists_the_reading_endpoints(client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/requests", "/requests/{request_id}", "/requests/{request_id}/files",
                 "/requests/{request_id}/link", "/requests/{request_id}/dip",
                 "/requests/{request_id}/approve", "/requests/{request_id}/refuse"):
        assert path in paths


@pytest.fixture()
def cli(home):
    from cli.reading_commands import register

    app = Typer()
    register(app, lambda: home.settings)
    runner = CliRunner()

    def run(*args: str) -> tuple[int, dict]:
        res = runner.invoke(app, [*args, "--json"])
        if res.exception and not isinstance(res.exception, SystemExit):
            raise res.exception
        return res.exit_code, json.loads(res.stdout.strip().splitlines()[-1])

    return run


def test_cli_lists_approves_and_refuses(home, client, cli) -> None:
    first, second = _pending(home, client), _pending(home, client, LAWYER)
    code, listed = cli("requests", "list", "--status", "pending_approval")
    assert code == 0 and {first, second} <= {r["request_id"] for r in listed["requests"]}
    code, out = cli("requests", "approve", first, "--as", home.archivist_id)
    assert code == 0 and out["request"]["status"] == "issued" and out["files"]
    code, out = cli("requests", "refuse", second, "--as", home.archivist_id, "--reason", "非本案代理人")
    assert code == 0 and out["request"]["status"] == "refused"
    assert not out["delivery"]["failed"]
    spooled = [json.loads(p.read_text("utf-8")) for p in home.settings.notification_spool.glob("*.json")]
    assert {"issued", "refused"} <= {m["body"].split(": ")[-1].split(" — ")[0] for m in spooled
                                     if m["request_id"] in (first, second)}
    assert any("非本案代理人" in m["body"] for m in spooled if m["request_id"] == second)
    code, pending = cli("notifications", "list", "--status", "pending")
    assert code == 0 and not [n for n in pending["notifications"] if n["request_id"] in (first, second)]
    from schemas.errors import InputRejected

    with pytest.raises(InputRejected) as exc:
        cli("requests", "refuse", second, "--as", "service:weifayuan", "--reason", "x")
    assert exc.value.code == "E509"


def test_cli_authorises_a_lawyer(home, client, cli) -> None:
    from dissemination.access import Requester

    newcomer = Requester(name="赵律师", id_number="440103197001011111", role="lawyer",
                         licence_number="14401201920000001")
    before = client.post("/requests", json=body_for(newcomer, home.in_progress), headers=headers_for(home, newcomer))
    assert before.json()["code"] == "E501"
    code, out = cli("lawyers", "authorise", "--case", home.in_progress, "--name", newcomer.name,
                    "--licence", newcomer.licence_number, "--party", PARTY.name)
    assert code == 0 and out["id"]
    after = client.post("/requests", json=body_for(newcomer, home.in_progress), headers=headers_for(home, newcomer))
    assert after.json()["status"] == "issued"
