"""A long operation started in the console runs in the background and its page follows it: the
flow's own progress reports (stage, done of total) reach the page, in the viewer's language."""

from __future__ import annotations

import time

import lxml.html
from sqlmodel import func, select

from archive.catalog import session
from archive.catalog.models import Aip

DEADLINE = 900  # seconds: a promise (the state leaves "running"), not a timing


def test_an_audit_started_in_the_console_reports_its_progress_to_its_page(as_role, console_home):
    client, csrf = as_role("auditor")
    started = client.post("/console/operations", data={"csrf": csrf, "kind": "audit-full"}, follow_redirects=False)
    assert started.status_code == 303, started.text[:500]
    page_url = started.headers["location"]
    deadline = time.monotonic() + DEADLINE
    while (state := client.get(page_url + "/state").json())["state"] == "running":
        assert time.monotonic() < deadline, state
        time.sleep(0.5)
    assert state["state"] == "completed", state
    with session(console_home.settings.catalog_url) as s:
        aips = s.exec(select(func.count()).select_from(Aip)).one()
    assert (state["stage"], state["done"], state["total"], state["unit"]) == ("audit", aips, aips, "AIPs")
    assert state["progress"] == f"审计：{aips} / {aips} 个 AIP"
    shown = lxml.html.fromstring(client.get(page_url).text)
    assert shown.get_element_by_id("op-stage").text_content() == state["progress"]
    assert shown.get_element_by_id("op-progress").get("value") == "1"
