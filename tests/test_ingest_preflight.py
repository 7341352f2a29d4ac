"""Issue 14, items 13 and 15: an ingest checks what its last steps need before its first, and
the work folders of killed runs do not stay behind."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

from config.settings import Settings  # noqa: E402
from flows._work import LOCK_NAME, work_folder  # noqa: E402
from schemas.errors import ConfigurationError  # noqa: E402


def test_ingest_without_a_signing_key_fails_before_any_work(tmp_path: Path) -> None:
    """E408 came after the whole OCR; now before the batch is even read."""
    from flows.ingest_batch import ingest_batch
    from ingest.sample import write_sample_batch

    settings = Settings(home=tmp_path / "home")
    batch = write_sample_batch(tmp_path / "sample")
    with pytest.raises(ConfigurationError) as caught:
        ingest_batch(batch, settings)
    assert caught.value.code == "E408"
    assert not settings.work_root.exists() or list(settings.work_root.iterdir()) == []


def test_a_storage_root_that_cannot_be_written_fails_before_any_work(tmp_path: Path) -> None:
    from archive.signing import ensure_dev_keys
    from flows.ingest_batch import preflight

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    settings = Settings(home=tmp_path / "home", storage_root=blocker / "storage")
    ensure_dev_keys(settings.signing_key, settings.signing_cert, common_name="preflight test")
    with pytest.raises(ConfigurationError) as caught:
        preflight.fn(settings)
    assert (caught.value.code, caught.value.path) == ("E900", str(blocker / "storage"))


def test_work_folders_of_killed_runs_are_removed_at_the_next_start(tmp_path: Path) -> None:
    root = tmp_path / "work"
    killed = root / "GZZY-SM03-20240424-001-abcd1234"  # a run killed with -9: unlocked, left behind
    (killed / "ocr").mkdir(parents=True)
    other_batch = root / "GZZY-SM03-20240424-0010-abcd1234"
    other_batch.mkdir()
    live = root / "GZZY-SM03-20240424-001-live_run"  # another run of the batch, still going
    live.mkdir()
    with (live / LOCK_NAME).open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with work_folder(root, "GZZY-SM03-20240424-001") as work:
            assert not killed.exists() and live.exists() and other_batch.exists()
            (work / "x").write_text("stage output")
    assert sorted(p.name for p in root.iterdir()) == sorted([live.name, other_batch.name])


def test_a_failed_run_keeps_its_folder_until_the_next_run(tmp_path: Path) -> None:
    root = tmp_path / "work"
    with pytest.raises(RuntimeError), work_folder(root, "B1") as failed:
        raise RuntimeError("stage failed")
    assert failed.is_dir()
    with work_folder(root, "B1"):
        assert not failed.exists()
    assert list(root.iterdir()) == []
