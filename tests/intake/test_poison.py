"""Batches that fail every time, and the order in which a verdict is published (issue 14)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config.settings import Settings
from ingest import intake
from ingest.intake import (
    MAX_INGEST_ATTEMPTS,
    StagedBatch,
    SubmissionResult,
    admit,
    pending_batches,
    run_submission,
)
from tests.intake.conftest import ManifestIngest, make_batch


class AlwaysRecursing:
    """The test backend of a poison batch: the ingest fails the same way at every run."""

    def __init__(self, where: Path) -> None:
        self.calls, self.where = 0, where

    def __call__(self, batch_dir: Path):
        self.calls += 1
        raise RecursionError(f"maximum recursion depth exceeded while reading {self.where / 'manifest.json'}")


def _admitted(settings: Settings, tmp_path: Path) -> tuple[Path, StagedBatch]:
    staged = StagedBatch.of(settings.intake_root, "GZZY-SM01", "GZZY-SM01-20240301-007")
    staged.root.mkdir(parents=True)
    batch = make_batch(tmp_path / "src", "GZZY-SM01-20240301-007", {"a.pdf": 64})
    dest = admit(batch, settings.intake_root, result_path=staged.result_path, batch_name=batch.name,
                 source="api:GZZY-SM01", station_id="GZZY-SM01")
    return dest, staged


def test_poison_batch_goes_to_quarantine_after_its_attempts(settings: Settings, tmp_path: Path) -> None:
    """Once every start (each restart of the API runs the pending batches again), never for ever."""
    dest, staged = _admitted(settings, tmp_path)
    submit = AlwaysRecursing(dest)
    for start in range(1, MAX_INGEST_ATTEMPTS):
        [batch] = pending_batches(settings.intake_root)
        result = run_submission(batch, submit, quarantine_root=settings.quarantine_root)
        assert result.status == "error" and result.error["code"] == "E999", result
        assert str(settings.home) not in json.dumps(result.model_dump()), result.error
    [batch] = pending_batches(settings.intake_root)
    result = run_submission(batch, submit, quarantine_root=settings.quarantine_root)
    assert result.status == "rejected" and [p["code"] for p in result.problems] == ["E164"], result
    assert (settings.quarantine_root / result.quarantine_id / batch.name / "a.pdf").is_file()
    assert pending_batches(settings.intake_root) == [] and submit.calls == MAX_INGEST_ATTEMPTS
    read = staged.read_result()
    assert read.status == "rejected" and str(settings.home) not in read.model_dump_json()


def test_final_status_is_written_after_the_batch_left_ready(settings: Settings, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The promise the station API's status rests on: when a reader sees archived or rejected,
    nothing of the batch is left in ``ready/`` (a test once saw the status first, under load)."""
    dest, _ = _admitted(settings, tmp_path)
    seen: list[tuple[str, list[str]]] = []
    real = intake.write_result

    def observed(path: Path, result: SubmissionResult) -> SubmissionResult:
        ready = settings.intake_root / "ready"
        seen.append((result.status, sorted(p.name for p in ready.iterdir()) if ready.is_dir() else []))
        return real(path, result)

    monkeypatch.setattr(intake, "write_result", observed)
    assert run_submission(dest, ManifestIngest(), quarantine_root=settings.quarantine_root).status == "archived"
    assert seen[-1] == ("archived", []), seen


def test_a_verdict_kept_by_a_crash_is_delivered_at_the_next_start(settings: Settings, tmp_path: Path) -> None:
    """A crash between leaving ``ready/`` and writing the status: the next start writes it."""
    dest, staged = _admitted(settings, tmp_path)
    slot = dest.parent
    verdict = SubmissionResult(batch_id=dest.name, status="archived")
    (slot / "verdict.json").write_text(verdict.model_dump_json(), "utf-8")
    import shutil
    shutil.rmtree(dest)
    settled = settings.intake_root / "settled" / slot.name
    settled.parent.mkdir(parents=True)
    slot.rename(settled)
    assert staged.read_result().status == "queued"
    assert pending_batches(settings.intake_root) == []
    assert staged.read_result().status == "archived" and not settled.exists()
