"""The hot folder takes a batch only when it is complete and has stopped changing."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from config.settings import Settings
from ingest._move import move_tree
from ingest.hotfolder import HotFolder, is_manifest_complete, result_path_for, take_batch, watch
from ingest.intake import admit, pending_batches
from tests.intake.conftest import ManifestIngest, make_batch, tree_digests


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _touch_later(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_growing_file_is_not_taken(tmp_path: Path) -> None:
    watch_dir = tmp_path / "hot"
    batch = make_batch(watch_dir, "B-GROW", {"a.pdf": 5000, "b.pdf": 7000})
    target = batch / "b.pdf"
    full = target.read_bytes()
    target.write_bytes(full[:3000])  # the copy is still running
    folder = HotFolder(watch_dir, clock=Clock())
    assert folder.scan() == []
    with target.open("ab") as f:
        f.write(full[3000:5000])
    assert folder.scan() == []  # grew between scans
    assert folder.scan() == []  # stable now, but smaller than the manifest says
    with target.open("ab") as f:
        f.write(full[5000:])
    assert folder.scan() == []  # grew again
    assert is_manifest_complete(batch)
    _touch_later(target)  # rewritten in place: same size, newer mtime
    assert folder.scan() == []
    assert folder.scan() == [batch]


def test_incomplete_batch_taken_after_it_goes_stale(tmp_path: Path) -> None:
    watch_dir = tmp_path / "hot"
    batch = make_batch(watch_dir, "B-STALE", {"a.pdf": 100})
    (batch / "a.pdf").unlink()
    clock = Clock()
    folder = HotFolder(watch_dir, stale_after=60, clock=clock)
    assert folder.scan() == []
    clock.now = 30
    assert folder.scan() == []
    clock.now = 61
    assert folder.scan() == [batch]


def test_hidden_and_empty_folders_ignored(tmp_path: Path) -> None:
    watch_dir = tmp_path / "hot"
    make_batch(watch_dir, ".B-COPYING", {"a.pdf": 10})
    (watch_dir / "empty").mkdir()
    clock = Clock()
    folder = HotFolder(watch_dir, stale_after=1, clock=clock)
    folder.scan()
    clock.now = 10
    assert folder.scan() == []


def test_take_batch_moves_ingests_and_writes_result(tmp_path: Path, settings: Settings,
                                                    ingest: ManifestIngest) -> None:
    watch_dir = tmp_path / "hot"
    batch = make_batch(watch_dir, "B-TAKE", {"卷/01.pdf": 1000, "02.pdf": 2000})
    before = tree_digests(batch)
    result = take_batch(batch, ingest, intake_root=settings.intake_root,
                        quarantine_root=settings.quarantine_root)
    assert result.status == "archived"
    assert not batch.exists()
    assert ingest.seen["B-TAKE"] == before
    written = json.loads(result_path_for(batch).read_text("utf-8"))
    assert written["status"] == "archived" and written["batch_id"] == "B-TAKE"
    assert pending_batches(settings.intake_root) == []


def test_watch_once_quarantines_rejected_and_resumes_after_crash(
        tmp_path: Path, settings: Settings, ingest: ManifestIngest) -> None:
    watch_dir = tmp_path / "hot"
    good = make_batch(watch_dir, "B-GOOD", {"a.pdf": 10})
    bad = make_batch(watch_dir, "B-BAD", {"a.pdf": 10})
    (bad / "a.pdf").write_bytes(b"0123456789")
    crashed = make_batch(tmp_path / "elsewhere", "B-CRASHED", {"a.pdf": 10})
    admitted = admit(crashed, settings.intake_root, result_path=tmp_path / "crashed.result.json")
    results = watch(watch_dir, ingest, intake_root=settings.intake_root,
                    quarantine_root=settings.quarantine_root, once=True, interval=0,
                    sleep=lambda s: None)
    by_id = {r.batch_id: r for r in results}
    assert set(by_id) == {"B-GOOD", "B-BAD", "B-CRASHED"}
    assert by_id["B-CRASHED"].status == "archived" and not admitted.exists()
    assert by_id["B-GOOD"].status == "archived" and not good.exists()
    assert by_id["B-BAD"].status == "rejected"
    assert [p["code"] for p in by_id["B-BAD"].problems] == ["E113"]
    qdir = settings.quarantine_root / by_id["B-BAD"].quarantine_id
    assert (qdir / "B-BAD" / "a.pdf").read_bytes() == b"0123456789"
    assert json.loads((watch_dir / "B-BAD.result.json").read_text("utf-8"))["quarantine_id"] == qdir.name


def test_submit_error_keeps_batch_in_intake(tmp_path: Path, settings: Settings) -> None:
    batch = make_batch(tmp_path / "hot", "B-ERR", {"a.pdf": 10})
    before = tree_digests(batch)

    def broken(batch_dir: Path):
        raise RuntimeError("catalog down")

    result = take_batch(batch, broken, intake_root=settings.intake_root,
                        quarantine_root=settings.quarantine_root)
    assert result.status == "error" and result.error["code"] == "E999"
    [left] = pending_batches(settings.intake_root)
    assert tree_digests(left) == before


def test_move_across_filesystems_verifies_copy(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs /dev/shm on a different filesystem than the test folder")
    src_root = shm / f"juanzong-test-{os.getpid()}"
    try:
        batch = make_batch(src_root, "B-XDEV", {"a/b.pdf": 300_000})
        before = tree_digests(batch)
        dest = move_tree(batch, tmp_path / "intake" / "B-XDEV")
        assert tree_digests(dest) == before and not batch.exists()
        assert [p.name for p in dest.parent.iterdir()] == ["B-XDEV"]
    finally:
        shutil.rmtree(src_root, ignore_errors=True)
