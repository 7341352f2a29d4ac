"""Identity verification and notification: the catalog default, the provider adapter point
(driven through an in-process HTTP transport, no network), the outbox and the log."""

from __future__ import annotations

import logging

import httpx
import pytest
from sqlmodel import select

from archive.catalog import session
from archive.catalog.models import Notification
from config.settings import Settings
from dissemination.access import CaseFacts, Requester
from dissemination.identity import CatalogVerifier, ProviderVerifier, http_provider
from dissemination.notify import LogNotifier, OutboxNotifier, status_message

CASE = CaseFacts(case_number="（2024）粤0106民初1234号", status="in_progress",
                 parties=(("陈志明", "440106198503124518"),),
                 lawyer_authorisations=(("林晓东", "14401201910123456"),))
PARTY = Requester(name="陈志明", id_number="440106198503124518", role="party")
STRANGER = Requester(name="王小五", id_number="440111199001011234", role="party")
LAWYER = Requester(name="林晓东", id_number="x", role="lawyer", licence_number="14401201910123456")


@pytest.mark.parametrize(("who", "case", "code"), [
    (PARTY, CASE, None),
    (PARTY.model_copy(update={"name": "陈志"}), CASE, "E500"),
    (STRANGER, CASE, "E500"),
    (LAWYER, CASE, None),
    (LAWYER.model_copy(update={"licence_number": "14401201910000000"}), CASE, "E501"),
    (LAWYER.model_copy(update={"licence_number": None}), CASE, "E506"),
    (PARTY, None, "E503"),
])
def test_catalog_verifier(who: Requester, case: CaseFacts | None, code: str | None) -> None:
    v = CatalogVerifier().verify(who, case)
    assert (v.verified, v.code) == (code is None, code)
    assert v.method == "catalog"
    assert (" / " in v.reason) == (code is not None)  # every refusal says why, in 中文 and English


def _face_service(request: httpx.Request) -> httpx.Response:
    """A stand-in face-recognition provider: matches when the evidence names the ID number."""
    import json

    body = json.loads(request.content)
    match = body["evidence"].get("face_token") == f"face-of-{body['id_number']}"
    return httpx.Response(200, json={"match": match, "reason": "" if match else "face does not match"})


def _provider(handler) -> ProviderVerifier:
    client = httpx.Client(transport=httpx.MockTransport(handler), base_url="https://face.example")
    return ProviderVerifier(http_provider(client, "/verify"), name="face")


def test_provider_confirms_then_catalog_decides() -> None:
    verifier = _provider(_face_service)
    ok = verifier.verify(PARTY, CASE, {"face_token": f"face-of-{PARTY.id_number}"})
    assert ok.verified and ok.method == "face+catalog"
    wrong_face = verifier.verify(PARTY, CASE, {"face_token": "someone else"})
    assert (wrong_face.verified, wrong_face.code) == (False, "E514")
    assert "face does not match" in wrong_face.reason
    # the provider vouches for the person, but only the case records say who may read
    stranger = verifier.verify(STRANGER, CASE, {"face_token": f"face-of-{STRANGER.id_number}"})
    assert (stranger.verified, stranger.code) == (False, "E500")


def test_provider_outage_is_a_refusal_not_a_crash() -> None:
    verifier = _provider(lambda request: httpx.Response(503))
    v = verifier.verify(PARTY, CASE, {"face_token": "x"})
    assert (v.verified, v.code) == (False, "E514")
    assert "unavailable" in v.reason


def test_outbox_notifier_writes_a_row_and_logs(tmp_path, caplog) -> None:
    settings = Settings(home=tmp_path / "home")
    msg = status_message("REQ-1", "party:440106********4518 陈志明", CASE.case_number, "refused", "不符合条件")
    with caplog.at_level(logging.INFO, logger="juanzong.notify"):
        row_id = OutboxNotifier(settings.catalog_url).notify(msg)
    with session(settings.catalog_url) as s:
        rows = s.exec(select(Notification)).all()
    assert [(r.id, r.request_id, r.status, r.channel) for r in rows] == [(row_id, "REQ-1", "pending", "outbox")]
    assert "不符合条件" in rows[0].body and "440106198503124518" not in rows[0].recipient
    assert "REQ-1" in caplog.text


def test_log_notifier_only_logs(caplog) -> None:
    with caplog.at_level(logging.INFO, logger="juanzong.notify"):
        ref = LogNotifier().notify(status_message("REQ-2", "lawyer:x", CASE.case_number, "issued"))
    assert ref == "log:REQ-2" and "REQ-2" in caplog.text
