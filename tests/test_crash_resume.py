"""kill -9 at several points of an ingest: the next run finishes the batch with no duplicate
AIP version, no lost file and a storage root that still validates."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import BIN
from ingest.sample import write_sample_batch

pytestmark = pytest.mark.slow


def _storage_has_object(home: Path) -> bool:
    return any(p.name == "inventory.json" for p in (home / "storage").rglob("inventory.json"))


def _catalog_has_version(home: Path) -> bool:
    db = home / "catalog.sqlite"
    if not db.exists():
        return False
    with sqlite3.connect(db) as c:
        try:
            return c.execute("select count(*) from aipversion").fetchone()[0] > 0
        except sqlite3.OperationalError:
            return False


def _ocr_started(home: Path) -> bool:
    return any((home / "work").glob("*/ocr")) if (home / "work").exists() else False


POINTS = {"during OCR": _ocr_started, "after the first commit": _storage_has_object,
          "after the first catalog record": _catalog_has_version}


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    return write_sample_batch(tmp_path_factory.mktemp("sample") / "out")


@pytest.mark.parametrize("point", list(POINTS))
def test_killed_ingest_resumes_without_duplicates(point, sample, cli_factory, tmp_path):
    cli = cli_factory(tmp_path / "home")
    proc = subprocess.Popen([str(BIN / "juanzong"), "ingest", str(sample), "--json"],
                            env=cli.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 600
    while not POINTS[point](cli.home) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.fail(f"ingest finished before reaching '{point}'")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()

    _, out = cli("ingest", str(sample))
    assert out["status"] == "archived"
    assert list((cli.home / "work").iterdir()) == [], "the killed run's work folder stayed behind"
    assert sorted(a["version"] for a in out["aips"]) == [1, 1]
    _, again = cli("ingest", str(sample))
    assert [a["version"] for a in again["aips"]] == [a["version"] for a in out["aips"]]

    with sqlite3.connect(cli.home / "catalog.sqlite") as c:
        assert c.execute("select count(*) from aipversion").fetchone()[0] == 2
        assert c.execute("select count(*) from document").fetchone()[0] == 7
        assert c.execute("select count(*) from indexqueueitem").fetchone()[0] == 0
    validated = subprocess.run([str(BIN / "ocfl-validate.py"), str(cli.home / "storage")],
                               capture_output=True, text=True)
    assert validated.returncode == 0, validated.stdout
    for a in out["aips"]:
        _, res = cli("verify", a["aip_id"])
        assert res["valid"]
    _, hits = cli("search", "原告")
    assert hits["total"] > 0
    assert sample.joinpath("manifest.json").is_file()
