"""Several takers on one hot folder: a batch is claimed by exactly one of them, and the
others leave no result, no slot and no copy behind (ingest/hotfolder.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from config.settings import Settings
from ingest.hotfolder import claim_batch, release_abandoned_claims, result_path_for, take_batch
from ingest.intake import pending_batches
from tests.intake.conftest import ManifestIngest, make_batch, tree_digests

TAKERS = 4


class _CountingIngest(ManifestIngest):
    """The test ingest, counting how often each batch reached it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: dict[str, int] = {}

    def __call__(self, batch_dir: Path):
        with self.lock:
            self.calls[batch_dir.name] = self.calls.get(batch_dir.name, 0) + 1
        return super().__call__(batch_dir)


def _race(batch: Path, settings: Settings, ingest: _CountingIngest) -> list:
    """``TAKERS`` takers, released together, each taking the same ready batch."""
    start = threading.Barrier(TAKERS, timeout=60)

    def taker(_: int):
        start.wait()
        return take_batch(batch, ingest, intake_root=settings.intake_root,
                          quarantine_root=settings.quarantine_root)

    with ThreadPoolExecutor(TAKERS) as pool:
        return list(pool.map(taker, range(TAKERS)))


def _slots(settings: Settings) -> list[Path]:
    ready = settings.intake_root / "ready"
    return list(ready.iterdir()) if ready.is_dir() else []


def test_a_taker_that_lost_the_claim_writes_nothing(tmp_path: Path, settings: Settings):
    """The bug: the loser's admit failed on the vanished folder, left an empty slot and wrote
    an "error" result over the winner's."""
    batch = make_batch(tmp_path / "hot", "B-CLAIMED", {"a.pdf": 100})
    claimed = claim_batch(batch)
    assert claimed is not None and not batch.exists()
    ingest = _CountingIngest()
    assert take_batch(batch, ingest, intake_root=settings.intake_root,
                      quarantine_root=settings.quarantine_root) is None
    assert not result_path_for(batch).exists() and _slots(settings) == [] and ingest.calls == {}


def test_takers_racing_for_a_batch_ingest_it_once(tmp_path: Path, settings: Settings):
    batch = make_batch(tmp_path / "hot", "B-RACE", {"a.pdf": 2000, "b/c.pdf": 3000})
    before = tree_digests(batch)
    ingest = _CountingIngest()
    results = _race(batch, settings, ingest)
    [won] = [r for r in results if r is not None]
    assert won.status == "archived" and ingest.calls == {"B-RACE": 1}
    assert ingest.seen["B-RACE"] == before
    assert json.loads(result_path_for(batch).read_text("utf-8"))["status"] == "archived"
    assert _slots(settings) == [] and pending_batches(settings.intake_root) == []
    assert not any((tmp_path / "hot" / ".claims").iterdir())


def test_takers_racing_across_filesystems_copy_the_batch_once(tmp_path: Path):
    """Hot folder and intake on different file systems: admitting is a copy, and before claims
    both takers copied the batch, so it was ingested twice."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs /dev/shm on a different filesystem than the test folder")
    hot = shm / f"juanzong-claims-{os.getpid()}"
    try:
        settings = Settings(home=tmp_path / "home")
        batch = make_batch(hot, "B-XDEV", {"a.pdf": 200_000})
        ingest = _CountingIngest()
        results = _race(batch, settings, ingest)
        assert [r.status for r in results if r is not None] == ["archived"]
        assert ingest.calls == {"B-XDEV": 1} and _slots(settings) == []
    finally:
        shutil.rmtree(hot, ignore_errors=True)


def test_a_claim_whose_taker_died_is_put_back(tmp_path: Path):
    watch_dir = tmp_path / "hot"
    batch = make_batch(watch_dir, "B-ORPHAN", {"a.pdf": 100})
    before = tree_digests(batch)
    claimed = claim_batch(batch)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    owner = claimed.parent / "owner.json"
    owner.write_text(json.dumps({**json.loads(owner.read_text()), "pid": int(dead.stdout)}))
    live = claim_batch(make_batch(watch_dir, "B-LIVE", {"a.pdf": 100}))  # this process: alive
    assert release_abandoned_claims(watch_dir) == ["B-ORPHAN"]
    assert tree_digests(watch_dir / "B-ORPHAN") == before
    assert live is not None and live.is_dir() and not (watch_dir / "B-LIVE").exists()
