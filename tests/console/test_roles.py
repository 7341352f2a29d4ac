"""The role matrix, row by row, through the console's real routes: who may open each page and
post each form; the three officers' separation; CSRF; lock-out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import select

from archive import accounts
from archive.catalog import session
from archive.catalog.models import PreservationEvent
from archive.permissions import MATRIX
from dissemination import requests as rq
from schemas.errors import InputRejected
from tests.console.conftest import ROLE_USERS, csrf_of

REPO = Path(__file__).resolve().parents[2]
ROLES = tuple(ROLE_USERS)
# The specification, written out: which console roles hold each action.
SPEC = {
    "dashboard.view": {"sysadmin", "secadmin", "secauditor", "archivist", "auditor"},
    "content.read": {"archivist", "auditor"},
    "quarantine.read": {"archivist"},
    "quarantine.decide": {"archivist"},
    "review.read": {"archivist", "auditor"},
    "review.accept": {"archivist"},
    "request.read": {"archivist"},
    "request.decide": {"archivist"},
    "change.decide": {"archivist"},
    "audit.read": {"archivist", "auditor", "secauditor"},
    "audit.run": {"archivist", "auditor"},
    "log.read": {"auditor", "secauditor"},
    "accounts.read": {"sysadmin", "secadmin", "secauditor"},
    "accounts.manage": {"sysadmin"},
    "roles.assign": {"secadmin"},
    "settings.read": {"sysadmin"},
}


PAGES = [  # (path, action)
    ("/console/", "dashboard.view"),
    ("/console/quarantine", "quarantine.read"),
    ("/console/quarantine/{qid}", "quarantine.read"),
    ("/console/review", "review.read"),
    ("/console/review/{fdoc}/{fpage}", "review.read"),
    ("/console/review/{fdoc}/{fpage}/image.png", "review.read"),
    ("/console/requests", "request.read"),
    ("/console/requests/{rid}", "request.read"),
    ("/console/changes", "change.decide"),
    ("/console/changes?status=", "change.decide"),
    ("/console/changes/{change}", "change.decide"),
    ("/console/cases", "content.read"),
    ("/console/cases?q=判决", "content.read"),
    ("/console/cases/{aip}", "content.read"),
    ("/console/documents/{doc}", "content.read"),
    ("/console/audits", "audit.read"),
    ("/console/operations", "audit.read"),
    ("/console/log", "log.read"),
    ("/console/log?who=officers", "log.read"),
    ("/console/system/users", "accounts.read"),
    ("/console/system/settings", "settings.read"),
]
FORMS = [  # (path, form data, action) — each would change something if allowed
    ("/console/quarantine/{qid}/discard", {"reason": "x"}, "quarantine.decide"),
    ("/console/quarantine/{qid}/release", {}, "quarantine.decide"),
    ("/console/quarantine/{qid}/manifest", {"manifest": "{}"}, "quarantine.decide"),
    ("/console/review/{fdoc}/{fpage}/accept", {}, "review.accept"),
    ("/console/requests/{rid}/approve", {}, "request.decide"),
    ("/console/requests/{rid}/refuse", {"reason": "x"}, "request.decide"),
    ("/console/changes/no-such-change/approve", {}, "change.decide"),
    ("/console/operations", {"kind": "audit-sample"}, "audit.run"),
    ("/console/system/users", {"username": "new.person"}, "accounts.manage"),
    ("/console/system/users/{user}/state", {"change": "disable"}, "accounts.manage"),
    ("/console/system/users/{user}/roles", {"roles": "archivist"}, "roles.assign"),
]


def test_the_specification_is_the_enforced_matrix():
    for action, roles in SPEC.items():
        assert MATRIX[action].roles & set(ROLES) == roles, action


@pytest.mark.parametrize("role", ROLES)
def test_every_page_answers_by_the_matrix(role, as_role, targets):
    client, _ = as_role(role)
    for template, action in PAGES:
        r = client.get(template.format(**targets), follow_redirects=False)
        expected = 200 if role in SPEC[action] else 403
        assert r.status_code == expected, (role, template, r.status_code, r.text[:300])
        if expected == 403:
            assert "E807" in r.text


@pytest.mark.parametrize("role", ROLES)
def test_every_form_refused_to_roles_without_its_action(role, as_role, targets, console_home):
    client, csrf = as_role(role)
    for template, data, action in FORMS:
        if role in SPEC[action]:
            continue
        r = client.post(template.format(**targets), data={**data, "csrf": csrf}, follow_redirects=False)
        assert r.status_code == 403 and "E807" in r.text, (role, template, r.status_code)
    assert rq.get_request(console_home.settings.catalog_url, console_home.request_id).status == "pending_approval"


def test_system_administrator_sees_no_archive_content(as_role, targets):
    client, _ = as_role("sysadmin")
    content_pages = [t for t, action in PAGES if MATRIX[action].content]
    assert len(content_pages) >= 10
    for template in content_pages:
        assert client.get(template.format(**targets)).status_code == 403, template


def test_security_auditor_reads_the_log_and_changes_nothing(as_role, targets, console_home):
    client, csrf = as_role("secauditor")
    page = client.get("/console/log?who=officers")
    assert page.status_code == 200
    assert "sec.auditor" in page.text  # their own sign-in is in the officers' trail
    for template, data, _action in FORMS:
        r = client.post(template.format(**targets), data={**data, "csrf": csrf}, follow_redirects=False)
        assert r.status_code == 403, template


def test_archivist_cannot_manage_users(as_role, console_home):
    client, csrf = as_role("archivist")
    assert client.get("/console/system/users").status_code == 403
    r = client.post("/console/system/users", data={"username": "sneaky", "csrf": csrf})
    assert r.status_code == 403
    assert "sneaky" not in {u.username for u in accounts.list_users(console_home.settings.catalog_url)}


def test_a_form_without_its_csrf_token_is_refused(as_role, console_home):
    client, _ = as_role("sysadmin")
    r = client.post("/console/system/users", data={"username": "no.token"})
    assert r.status_code == 403 and "E805" in r.text
    r = client.post("/console/system/users", data={"username": "no.token", "csrf": "forged"})
    assert r.status_code == 403 and "E805" in r.text
    assert "no.token" not in {u.username for u in accounts.list_users(console_home.settings.catalog_url)}


def test_sign_in_form_needs_its_csrf_token(app, console_home):
    from fastapi.testclient import TestClient

    name = ROLE_USERS["auditor"]
    with TestClient(app) as client:
        r = client.post("/console/login", data={"username": name, "password": console_home.passwords[name],
                                                "csrf": "made-up"})
        assert r.status_code == 403 and "E805" in r.text
        assert "jz_console" not in client.cookies


def test_no_one_holds_two_officer_roles(as_role, console_home):
    url = console_home.settings.catalog_url
    with pytest.raises(InputRejected) as exc:
        accounts.add_user(url, "two.hats", ["sysadmin", "secadmin"], by="cli:test")
    assert exc.value.code == "E804"
    with pytest.raises(InputRejected) as exc:
        accounts.add_user(url, "hat.and.desk", ["secauditor", "archivist"], by="cli:test")
    assert exc.value.code == "E804"
    accounts.add_user(url, "plain.person", [], by="cli:test")
    client, csrf = as_role("secadmin")
    r = client.post("/console/system/users/plain.person/roles",
                    data={"roles": ["sysadmin", "secauditor"], "csrf": csrf})
    assert r.status_code == 422 and "E804" in r.text
    r = client.post("/console/system/users/sys.admin/roles", data={"roles": ["secadmin"], "csrf": csrf})
    assert "E804" in r.text  # an officer's role never changes to another
    assert accounts.get_user(url, "sys.admin").roles == ("sysadmin",)
    r = client.post("/console/system/users/plain.person/roles", data={"roles": ["archivist", "auditor"],
                                                                    "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert accounts.get_user(url, "plain.person").roles == ("archivist", "auditor")


def test_ten_wrong_passwords_lock_the_account(app, console_home):
    from fastapi.testclient import TestClient

    url = console_home.settings.catalog_url
    _, password = accounts.add_user(url, "forgetful", ["auditor"], by="cli:test")
    with TestClient(app) as client:
        for attempt in range(accounts.LOCK_AFTER):
            form = client.get("/console/login")
            r = client.post("/console/login", data={"username": "forgetful", "password": f"wrong-{attempt}",
                                                    "csrf": csrf_of(form.text)})
            assert r.status_code == 401
        form = client.get("/console/login")
        r = client.post("/console/login", data={"username": "forgetful", "password": password,
                                                "csrf": csrf_of(form.text)}, follow_redirects=False)
        assert r.status_code == 401 and "E802" in r.text
    assert accounts.get_user(url, "forgetful").locked
    with session(url) as s:
        logins = s.exec(select(PreservationEvent).where(PreservationEvent.event_type == "login",
                                                        PreservationEvent.agent == "user:forgetful")).all()
    assert len(logins) == accounts.LOCK_AFTER + 1 and all(e.outcome == "failure" for e in logins)


def test_users_add_prints_the_password_once_and_signs_in(console_home):
    env = {**os.environ, "JUANZONG_HOME": str(console_home.settings.home)}

    def users_add(*roles: str) -> subprocess.CompletedProcess:
        args = [a for r in roles for a in ("--role", r)]
        return subprocess.run([sys.executable, "-c", "from cli.main import main; main()", "users", "add",
                               "wu.archivist", *args, "--json"], capture_output=True, text=True, env=env,
                              cwd=REPO, timeout=900)

    refused = users_add("secadmin", "archivist")
    assert refused.returncode == 3 and json.loads(refused.stdout)["error"]["code"] == "E804"
    proc = users_add("archivist")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["username"] == "wu.archivist" and out["role"] == "archivist" and len(out["password"]) >= 16
    account = accounts.authenticate(console_home.settings.catalog_url, "wu.archivist", out["password"])
    assert account.roles == ("archivist",)
    row = accounts.get_user(console_home.settings.catalog_url, "wu.archivist")
    assert row.created_by.startswith("cli:")
