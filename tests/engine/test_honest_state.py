"""A batch whose OCR failed for a document does not end as a plain Completed flow run."""

from __future__ import annotations

from pathlib import Path

from archive.signing import ensure_dev_keys
from config.settings import Settings
from flows.ingest_batch import IngestOutcome, honest_state, ingest_batch
from ingest.sample import write_sample_batch

NO_SUCH_LANGUAGE = "zzz"  # no traineddata: Tesseract refuses every page, as a broken install does


def _problem(code: str, path: str) -> dict:
    return {"code": code, "path": path, "message": "…"}


def test_an_outcome_with_failed_ocr_becomes_a_named_completed_state() -> None:
    outcome = IngestOutcome(batch_id="B1", status="archived",
                            problems=[_problem("E300", "a.pdf"), _problem("E301", "b.pdf")])
    state = honest_state(outcome, documents=3)
    assert state.is_completed() and state.name == "Needs review"
    assert "1 of 3 documents" in state.message
    assert honest_state(IngestOutcome(batch_id="B1", status="archived"), 3).batch_id == "B1"


def test_a_run_whose_ocr_failed_is_not_plain_completed(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", ocr_languages=NO_SUCH_LANGUAGE, ocr_jobs=1)
    ensure_dev_keys(settings.signing_key, settings.signing_cert, common_name="Juanzong test")
    batch = write_sample_batch(tmp_path / "sample", seed=1)

    state = ingest_batch(batch, settings, return_state=True)

    outcome = state.result()
    assert outcome.status == "archived" and any(p["code"] == "E300" for p in outcome.problems)
    assert state.is_completed() and state.name == "Needs review", (state.name, state.message)
    assert state.message.startswith(outcome.batch_id) and "review" in state.message
