"""check_batch against the shared corpus: every injected fault has its file and stable code."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ingest.records import CheckedBatch
from ingest.validate import ManifestRejected, check_batch

# fault type -> codes that must be reported on the fault's path (all fatal unless listed below)
EXPECTED = {
    "sha256_mismatch": {"E113"},
    "truncated": {"E201", "E113", "E114"},
    "missing": {"E110"},
    "extra_unlisted": {"E111"},
    "zero_byte": {"E112"},
    "wrong_format": {"E200"},
    "duplicate": {"E115"},
    "page_count_mismatch": {"E210"},
    "blank_page": {"E212"},
}
NOT_FATAL = {"blank_page"}


def _fault(faults: list[dict], kind: str) -> dict:
    return next(f for f in faults if f["type"] == kind)


def _snapshot(root: Path) -> dict[str, tuple[int, int, str]]:
    return {p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns,
                                             hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def checked(batch_faulty_corpus: Path, batch_faults: list[dict]) -> CheckedBatch:
    batch = batch_faulty_corpus / _fault(batch_faults, "sha256_mismatch")["batch_dir"]
    return check_batch(batch)


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_fault_is_reported_on_its_file(kind: str, checked: CheckedBatch, batch_faults: list[dict]):
    fault = _fault(batch_faults, kind)
    problems = checked.report.for_path(fault["path"])
    assert EXPECTED[kind] <= {p.code for p in problems}, problems
    wanted = [p for p in problems if p.code in EXPECTED[kind]]
    assert all(p.fatal is (kind not in NOT_FATAL) for p in wanted)
    if kind in NOT_FATAL:
        assert fault["path"] in checked.accepted
    elif kind != "extra_unlisted":
        assert fault["path"] not in checked.accepted


def test_duplicate_names_the_first_copy(checked: CheckedBatch, batch_faults: list[dict]):
    fault = _fault(batch_faults, "duplicate")
    (problem,) = [p for p in checked.report.for_path(fault["path"]) if p.code == "E115"]
    assert problem.expected == fault["duplicate_of"]
    assert fault["duplicate_of"] in checked.accepted


def test_blank_page_names_the_page(checked: CheckedBatch, batch_faults: list[dict]):
    fault = _fault(batch_faults, "blank_page")
    (problem,) = [p for p in checked.report.problems if p.code == "E212"]
    assert problem.path == fault["path"]
    assert f"page {fault['page']}:" in problem.message


@pytest.mark.parametrize("kind", ["rotated_90", "rotated_180"])
def test_rotated_pages_are_not_fatal(kind: str, checked: CheckedBatch, batch_faults: list[dict]):
    fault = _fault(batch_faults, kind)
    assert not [p for p in checked.report.for_path(fault["path"]) if p.fatal]
    assert fault["path"] in checked.accepted


def test_only_faulty_files_are_refused(checked: CheckedBatch, batch_faults: list[dict]):
    refused = {f["path"] for f in batch_faults
               if f["type"] in EXPECTED and f["type"] not in NOT_FATAL | {"extra_unlisted"}}
    listed = {f.path for f in checked.manifest.files}
    assert set(checked.accepted) == listed - refused
    assert not checked.report.ok


def test_malformed_manifest_is_rejected_with_the_json_error(batch_faulty_corpus: Path,
                                                            batch_faults: list[dict]):
    fault = _fault(batch_faults, "malformed_manifest")
    with pytest.raises(ManifestRejected) as caught:
        check_batch(batch_faulty_corpus / fault["batch_dir"])
    (problem,) = caught.value.report.problems
    assert (problem.code, problem.path) == ("E101", "manifest.json")
    assert "line" in problem.message and "column" in problem.message
    assert caught.value.exit_code == 3


def test_clean_batch_has_no_fatal_problem(batch_clean: Path):
    checked = check_batch(batch_clean)
    assert checked.report.ok, [p.message for p in checked.report.problems if p.fatal]
    assert set(checked.accepted) == {f.path for f in checked.manifest.files}


def test_checking_changes_nothing_and_is_repeatable(batch_faulty_corpus: Path,
                                                     batch_faults: list[dict]):
    batch = batch_faulty_corpus / batch_faults[0]["batch_dir"]
    before = _snapshot(batch)
    first, second = check_batch(batch), check_batch(batch)
    assert _snapshot(batch) == before
    assert first.content_digest == second.content_digest
    assert first.report == second.report


def test_file_already_archived_is_reported_not_refused(batch_clean: Path):
    first = check_batch(batch_clean).manifest.files[0]
    archived = {first.sha256: "aip-1/v1/content/data/x.pdf"}
    checked = check_batch(batch_clean, known_digest=archived.get)
    (problem,) = [p for p in checked.report.problems if p.code == "E116"]
    assert (problem.path, problem.expected, problem.fatal) == (first.path, archived[first.sha256], False)
    assert first.path in checked.accepted


def test_resolution_below_minimum_is_flagged_per_page(batch_clean: Path):
    checked = check_batch(batch_clean, min_dpi=300)
    low = [p for p in checked.report.problems if p.code == "E211"]
    assert len(low) == checked.manifest.page_total
    assert {p.found for p in low} == {"200"}
