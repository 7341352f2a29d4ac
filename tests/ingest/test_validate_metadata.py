"""Court metadata rules and manifest schema faults, on small hand-written manifests."""

from __future__ import annotations

import json

import pytest

from ingest.validate import ManifestRejected, check_batch
from ingest.validate.metadata import is_case_number
from tests.ingest.conftest import BATCH_CASE, batch_page_pdf

PDF = "a/01-起诉状.pdf"


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return batch_page_pdf()


def _codes(checked, path=PDF) -> dict[str, bool]:
    return {p.code: p.fatal for p in checked.report.for_path(path)}


@pytest.mark.parametrize("value", ["（2023）粤0114民初6749号", "（2022）粤01民终3683号",
                                   "（2021）最高法民申12号", "（2020）粤0192执恢7号"])
def test_official_case_numbers_pass(value: str):
    assert is_case_number(value)


@pytest.mark.parametrize("value", ["(2023)粤0114民初6749号", "（2023）粤0114民初6749", "（23）粤0114民初6749号",
                                   "（2023）粤0114民初06749号", "（2023）0114民初6749号", "2023粤0114民初6749号",
                                   "（2023）粤0114民初号"])
def test_malformed_case_numbers_fail(value: str):
    assert not is_case_number(value)


def test_clean_manifest_has_no_problem(faulty_batch, pdf):
    checked = check_batch(faulty_batch({PDF: pdf}))
    assert checked.report.problems == []
    assert checked.accepted == (PDF,)


def _set_case_number(m: dict, value: str) -> None:
    m["cases"][0]["case_number"] = value
    m["files"][0]["case_number"] = value


def test_bad_case_number_refuses_the_case_files(faulty_batch, pdf):
    checked = check_batch(faulty_batch({PDF: pdf}, edit=lambda m: _set_case_number(m, "(2023)粤0114民初6749号")))
    assert _codes(checked) == {"E121": True}
    assert checked.accepted == ()


def test_filing_after_closing_is_refused(faulty_batch, pdf):
    def edit(m: dict) -> None:
        m["cases"][0]["filing_date"], m["cases"][0]["closing_date"] = "2023-09-02", "2023-09-01"

    assert _codes(check_batch(faulty_batch({PDF: pdf}, edit=edit))) == {"E122": True}


def test_impossible_date_rejects_the_manifest_with_its_pointer(faulty_batch, pdf):
    def edit(m: dict) -> None:
        m["cases"][0]["filing_date"] = "2023-02-30"

    with pytest.raises(ManifestRejected) as caught:
        check_batch(faulty_batch({PDF: pdf}, edit=edit))
    (problem,) = caught.value.report.problems
    assert (problem.code, problem.found) == ("E102", "/cases/0/filing_date")


@pytest.mark.parametrize(("legacy", "mapped"), [("长期", "60年"), ("短期", "20年")])
def test_legacy_retention_is_mapped_and_recorded(faulty_batch, pdf, legacy: str, mapped: str):
    def edit(m: dict) -> None:
        m["cases"][0]["retention_period"] = legacy

    checked = check_batch(faulty_batch({PDF: pdf}, edit=edit))
    (problem,) = checked.report.problems
    assert (problem.code, problem.fatal, problem.found, problem.expected) == ("E123", False, legacy, mapped)
    case = checked.manifest.case(BATCH_CASE)
    assert (case.retention_period, case.retention_period_legacy) == (mapped, legacy)
    assert checked.accepted == (PDF,)


def test_unknown_retention_is_refused(faulty_batch, pdf):
    def edit(m: dict) -> None:
        m["cases"][0]["retention_period"] = "30年"

    assert _codes(check_batch(faulty_batch({PDF: pdf}, edit=edit))) == {"E125": True}


def test_disclosable_secondary_volume_is_forced_off(faulty_batch, pdf):
    def edit(m: dict) -> None:
        m["files"][0]["document"]["volume"] = "副卷"

    batch = faulty_batch({PDF: pdf}, edit=edit)
    checked = check_batch(batch)
    assert _codes(checked) == {"E124": False}
    assert checked.entry(PDF).document.disclosable is False
    assert json.loads((batch / "manifest.json").read_text())["files"][0]["document"]["disclosable"] is True
    assert checked.accepted == (PDF,)


def test_unknown_volume_rejects_the_manifest_with_its_pointer(faulty_batch, pdf):
    def edit(m: dict) -> None:
        m["files"][0]["document"]["volume"] = "附卷"

    with pytest.raises(ManifestRejected) as caught:
        check_batch(faulty_batch({PDF: pdf}, edit=edit))
    assert [p.found for p in caught.value.report.problems] == ["/files/0/document/volume"]


def test_file_of_an_undescribed_case_is_refused(faulty_batch, pdf):
    def edit(m: dict) -> None:
        m["files"][0]["case_number"] = "（2023）粤0114民初1号"

    assert _codes(check_batch(faulty_batch({PDF: pdf}, edit=edit))) == {"E120": True}


@pytest.mark.parametrize(("edit", "pointer"), [
    (lambda m: m.pop("batch_id"), "/"),
    (lambda m: m["files"][0].update(byte_size="12"), "/files/0/byte_size"),
    (lambda m: m["files"][0].update(sha256="ABC"), "/files/0/sha256"),
    (lambda m: m["cases"][0]["parties"][0].pop("name"), "/cases/0/parties/0"),
    (lambda m: m.update(scan_started="yesterday"), "/scan_started"),
    (lambda m: m["files"].append(dict(m["files"][0])), "/files/1/path"),
])
def test_schema_faults_reject_with_json_pointer(faulty_batch, pdf, edit, pointer: str):
    with pytest.raises(ManifestRejected) as caught:
        check_batch(faulty_batch({PDF: pdf}, edit=edit))
    problems = caught.value.report.problems
    assert [(p.code, p.path, p.found) for p in problems] == [("E102", "manifest.json", pointer)]
    assert pointer in problems[0].message


def test_missing_manifest_is_rejected(tmp_path):
    with pytest.raises(ManifestRejected) as caught:
        check_batch(tmp_path)
    assert [p.code for p in caught.value.report.problems] == ["E100"]


def test_manifest_that_is_not_an_object_is_rejected(faulty_batch, pdf):
    with pytest.raises(ManifestRejected) as caught:
        check_batch(faulty_batch({PDF: pdf}, manifest="[1, 2]"))
    assert [(p.code, p.found) for p in caught.value.report.problems] == [("E102", "/")]


@pytest.mark.parametrize("pointer,value", [
    ("/files/0/document/title", "卷" * 200_000), ("/files/0/document/title", "卷" * 201),
    ("/cases/0/case_number", "（2023）粤0114民初" + "1" * 100 + "号"), ("/cases/0/parties/0/name", "名" * 201),
    ("/cases/0/parties/0/id_number", "4" * 65)])
def test_fields_longer_than_the_catalog_holds_are_refused(faulty_batch, pdf, pointer: str, value: str):
    """Limits come from the manifest schema (each at most what its catalog column holds): a
    200,000-character title was archived before, overwriting the earlier title."""
    def edit(m: dict) -> None:
        target = m
        *parents, last = pointer.strip("/").split("/")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value

    with pytest.raises(ManifestRejected) as caught:
        check_batch(faulty_batch({PDF: pdf}, edit))
    assert ("E102", pointer) in [(p.code, p.found) for p in caught.value.report.problems]


def test_a_manifest_nested_too_deep_is_refused_E162(faulty_batch, pdf):
    """900 levels passed the parser and ended in a RecursionError (E999) retried at every start."""
    text = '{"deep": ' + "[" * 900 + "]" * 900 + "}"
    with pytest.raises(ManifestRejected) as caught:
        check_batch(faulty_batch({PDF: pdf}, manifest=text))
    assert [p.code for p in caught.value.report.problems] == ["E162"]


def test_a_batch_id_outside_the_stations_prefix_rejects_the_manifest(faulty_batch, pdf):
    """E157 was held only by the station API; the hot folder and ``juanzong ingest`` let
    station GZ-TEST name its batch after another station."""
    def edit(m: dict) -> None:
        m["batch_id"] = "GZ-OTHER-20240301-001"

    with pytest.raises(ManifestRejected) as caught:
        check_batch(faulty_batch({PDF: pdf}, edit=edit))
    assert [(p.code, p.path, p.found) for p in caught.value.report.problems] == [
        ("E157", "manifest.json", "GZ-OTHER-20240301-001")]
