"""One archive home for the console's tests, built by the real ingest flow on the sample batch
(two cases, nine pages) with a confidence threshold high enough that OCR flags pages for review;
a batch rejected into quarantine for a wrong 保管期限; a party's request for the archived case,
made with another archivist's key and waiting for approval; and one console account per role.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import asn1crypto.tsp  # noqa: F401  before ingest signs an AIP
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from archive import accounts, review
from archive.catalog import session
from archive.catalog.models import Case, CaseChange, Document
from config.settings import Settings
from ingest.sample import CASE_NUMBER, SAMPLE_READER
from schemas.errors import InputRejected

ROLE_USERS = {"sysadmin": "sys.admin", "secadmin": "sec.admin", "secauditor": "sec.auditor",
              "archivist": "li.archivist", "auditor": "zhao.auditor"}
BAD_RETENTION = "30年"
OTHER_ARCHIVIST_KEY: dict[str, str] = {}
NEW_PARTY = {"role": "第三人", "kind": "person", "name": "赵六", "id_number": "440106199001019999"}


@dataclass
class ConsoleHome:
    settings: Settings
    archived_case: str
    aip_id: str
    request_id: str
    quarantine_id: str
    passwords: dict[str, str] = field(default_factory=dict)


def quarantined_batch(root: Path, settings: Settings, seed: int) -> str:
    """A sample batch whose manifest gives a 保管期限 no court uses: rejected, quarantined."""
    from flows.submission import flow_submit
    from ingest.intake import admit, run_submission
    from ingest.sample import write_sample_batch

    batch = write_sample_batch(root / f"bad-{seed}", seed=seed)
    manifest = json.loads((batch / "manifest.json").read_text(encoding="utf-8"))
    manifest["cases"][0]["retention_period"] = BAD_RETENTION
    (batch / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    dest = admit(batch, settings.intake_root, result_path=root / f"bad-{seed}.result.json", source="test")
    result = run_submission(dest, flow_submit(settings), quarantine_root=settings.quarantine_root)
    assert result.status == "rejected" and result.quarantine_id, result
    return result.quarantine_id


def pending_request(settings: Settings, case_number: str) -> str:
    """A party's request for an archived case, made with another archivist's API key."""
    from api.app import create_app
    from api.reading import add_principal, caller_of_key

    try:
        key = add_principal(settings.catalog_url, "other", kind="archivist", roles=["archivist"])
    except InputRejected:  # made by an earlier request
        key = OTHER_ARCHIVIST_KEY[settings.catalog_url]
    OTHER_ARCHIVIST_KEY[settings.catalog_url] = key
    assert caller_of_key(settings.catalog_url, key).principal_id == "archivist:other"
    with TestClient(create_app(settings)) as c:
        r = c.post("/requests", headers={"X-API-Key": key},
                   json={"case_number": case_number,
                         "requester": {"name": SAMPLE_READER["name"], "id_number": SAMPLE_READER["id_number"],
                                       "role": "party"}})
    assert r.status_code == 201 and r.json()["status"] == "pending_approval", r.text
    return r.json()["request_id"]


@pytest.fixture(scope="session")
def console_home(tmp_path_factory: pytest.TempPathFactory) -> ConsoleHome:
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    from archive.signing import ensure_dev_keys
    from flows.ingest_batch import ingest_batch
    from ingest.sample import write_sample_batch

    root = tmp_path_factory.mktemp("console")
    # Tesseract's word confidences put some sample pages under 95; PP-OCR's (character
    # probabilities, 97-99 on these clean pages) would flag none.
    settings = Settings(home=root / "home", ocr_confidence_threshold=95.0, ocr_engine="tesseract")
    ensure_dev_keys(settings.signing_key, settings.signing_cert, common_name="Juanzong test archive",
                    algorithm=settings.signature_algorithm)
    outcome = ingest_batch(write_sample_batch(root / "sample", seed=1), settings)
    assert outcome.status == "archived", outcome
    archived = next(a for a in outcome.aips if a.case_number != CASE_NUMBER)
    with session(settings.catalog_url) as s:
        case = s.get(Case, archived.case_number)
        case.status = "archived"
        s.add(case)
        s.add(CaseChange(id="held-parties-change", case_number=case.case_number, kind="parties",
                         old={"value": case.parties}, new={"value": [*case.parties, NEW_PARTY]},
                         batch_id="GZZY-SM03-20240101-999", station_id="GZZY-SM03"))
        s.commit()
    home = ConsoleHome(settings=settings, archived_case=archived.case_number, aip_id=archived.aip_id,
                       request_id=pending_request(settings, archived.case_number),
                       quarantine_id=quarantined_batch(root, settings, seed=2))
    for role, name in ROLE_USERS.items():
        _, home.passwords[name] = accounts.add_user(settings.catalog_url, name, [role], by="cli:test")
    return home


@pytest.fixture(scope="session")
def app(console_home: ConsoleHome):
    from api.app import create_app

    return create_app(console_home.settings)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def sign_in(client: TestClient, username: str, password: str) -> str:
    """Sign in through the form; returns the session's CSRF token (from the dashboard's forms)."""
    form = client.get("/console/login")
    r = client.post("/console/login", data={"username": username, "password": password,
                                            "csrf": csrf_of(form.text), "next": "/console/"},
                    follow_redirects=True)
    assert r.status_code == 200, r.text[:500]
    return csrf_of(r.text)


@pytest.fixture
def as_role(app, console_home: ConsoleHome):
    """``as_role("archivist")`` -> (a signed-in TestClient, its CSRF token)."""
    clients = []

    def sign(role: str) -> tuple[TestClient, str]:
        client = TestClient(app)
        clients.append(client)
        name = ROLE_USERS[role]
        return client, sign_in(client, name, console_home.passwords[name])

    yield sign
    for c in clients:
        c.close()


@pytest.fixture(scope="session")
def targets(console_home) -> dict[str, str]:
    url = console_home.settings.catalog_url
    flagged = review.pending(url)[0]
    with session(url) as s:
        doc = s.exec(select(Document).where(Document.aip_id == console_home.aip_id)).first()
    return {"qid": console_home.quarantine_id, "rid": console_home.request_id, "aip": console_home.aip_id,
            "doc": doc.document_id, "fdoc": flagged.document_id, "fpage": str(flagged.page),
            "user": ROLE_USERS["auditor"], "change": "held-parties-change"}
