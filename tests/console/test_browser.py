"""An archivist's morning in a real browser (Debian's chromium, headless, through chromedriver):
sign in, fix and release a quarantined batch, accept a flagged OCR page, approve a request another
archivist made; the copy is issued. A screenshot of each screen goes to the folder the test prints
(``JUANZONG_SCREENSHOTS``, default ``.artifacts/console-screens`` in the repository)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from archive import review
from dissemination import requests as rq
from tests.console.conftest import BAD_RETENTION, ROLE_USERS, pending_request, quarantined_batch

pytestmark = pytest.mark.browser
REPO = Path(__file__).resolve().parents[2]
INGEST_DEADLINE = 900  # seconds for the released batch's OCR on a busy 2-core machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(app):
    import uvicorn

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 600  # a deadline for a hang: the wait is on srv.started
    while not srv.started:
        assert time.monotonic() < deadline, "the console server did not start"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(30)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.skip("Debian's chromium and chromium-driver are not installed (scripts/install-debian-packages.sh)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1400,1000",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.implicitly_wait(60)  # waits for the element, returns as soon as it is there
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def screens() -> Path:
    folder = Path(os.environ.get("JUANZONG_SCREENSHOTS", REPO / ".artifacts" / "console-screens"))
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    print(f"\nconsole screenshots: {folder}")
    return folder


def _shot(driver, folder: Path, name: str) -> None:
    assert driver.save_screenshot(str(folder / f"{name}.png")), name


def _wait_for(driver, predicate, timeout: float, what: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=1).until(lambda d: predicate(d), message=what)


def _images_loaded(driver) -> bool:
    """Every image on the page has arrived and decoded (a broken one never gets a width)."""
    return driver.execute_script(
        "const imgs = [...document.images]; return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0);")


def test_an_archivists_decisions_in_the_browser(server, browser, screens, console_home, tmp_path):
    """Its own quarantined batch and request, so the other console tests keep theirs untouched."""
    from selenium.webdriver.common.by import By

    url = console_home.settings.catalog_url
    quarantine_id = quarantined_batch(tmp_path, console_home.settings, seed=3)
    request_id = pending_request(console_home.settings, console_home.archived_case)
    name = ROLE_USERS["archivist"]
    browser.get(f"{server}/console/login")
    _shot(browser, screens, "01-login")
    browser.find_element(By.ID, "username").send_keys(name)
    browser.find_element(By.ID, "password").send_keys(console_home.passwords[name])
    browser.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
    _wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "dl.figures"), 300, "the dashboard")
    assert "首页" in browser.title
    _shot(browser, screens, "02-dashboard")

    browser.get(f"{server}/console/quarantine")
    _shot(browser, screens, "03-quarantine")
    browser.get(f"{server}/console/quarantine/{quarantine_id}")
    assert "E125" in browser.page_source
    _wait_for(browser, _images_loaded, 300, "the bad page's image")
    _shot(browser, screens, "04-quarantined-batch")
    area = browser.find_element(By.ID, "manifest")
    browser.execute_script("arguments[0].value = arguments[0].value.replace(arguments[1], '永久');",
                           area, BAD_RETENTION)
    area.find_element(By.XPATH, "ancestor::form//button[@type='submit']").click()
    _wait_for(browser, lambda d: "manifest edited" in d.page_source, 300, "the fixed manifest")
    browser.find_element(By.ID, "release").click()
    state = _wait_for(browser, lambda d: d.find_elements(By.ID, "op-state"), 300, "the operation page")[0]
    _shot(browser, screens, "05-release-running")
    _wait_for(browser, lambda d: d.find_element(By.ID, "op-state").get_attribute("data-state") != "running",
              INGEST_DEADLINE, "the released batch's ingest")
    assert browser.find_element(By.ID, "op-state").get_attribute("data-state") == "completed"
    assert "archived" in browser.find_element(By.ID, "op-summary").text
    _shot(browser, screens, "06-release-done")
    assert state is not None

    browser.get(f"{server}/console/review")
    _shot(browser, screens, "07-review-queue")
    before = review.pending(url)
    browser.find_element(By.CSS_SELECTOR, "table tbody a").click()
    _wait_for(browser, lambda d: d.find_elements(By.ID, "accept-page"), 300, "a flagged page")
    _wait_for(browser, _images_loaded, 300, "the page image")
    _shot(browser, screens, "08-review-page")
    document_id, page = browser.current_url.rstrip("/").split("/")[-2:]
    browser.find_element(By.ID, "accept-page").click()
    _wait_for(browser, lambda d: d.current_url.endswith("/console/review"), 300, "back at the queue")
    after = {(i.document_id, i.page) for i in review.pending(url)}
    assert (document_id, int(page)) not in after and len(after) == len(before) - 1

    browser.get(f"{server}/console/requests/{request_id}")
    assert "待审批" in browser.page_source
    _shot(browser, screens, "09-request")
    browser.find_element(By.ID, "approve").click()
    _wait_for(browser, lambda d: "已发放" in d.page_source, 600, "the issued copy")
    _shot(browser, screens, "10-request-issued")
    view = rq.get_request(url, request_id)
    assert view.status == "issued" and view.decided_by == f"user:{name}"
    files = rq.issued_files(url, request_id)
    assert files and all(f.sha256 for f in files)
    assert sorted(p.name for p in screens.glob("*.png")) == [f"{n}.png" for n in (
        "01-login", "02-dashboard", "03-quarantine", "04-quarantined-batch", "05-release-running",
        "06-release-done", "07-review-queue", "08-review-page", "09-request", "10-request-issued")]
