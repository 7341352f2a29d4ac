"""DA/T 70 as the standard has it: one item table per stage, manual items open until a named person
signs them off, no pass without evidence (archive/check4.py, check4_longterm.py, check4_signoff.py)."""

from __future__ import annotations

import copy
import json

import pytest
from lxml import etree
from typer.testing import CliRunner

from archive import premis
from archive.catalog import session
from archive.check4 import formats_verdict, items_for, virus_verdict
from archive.check4_signoff import sign_off
from archive.package import CASE_JSON, PREMIS_XML, CaseRecord
from archive.records import ocfl_id_for
from archive.storage import OcflStore
from schemas.errors import InputRejected, VerificationFailed
from tests.archive_ops.conftest import ARCHIVIST, AUDITOR, ops_people, ops_settings

pytestmark = pytest.mark.slow


def _aip(outcome) -> str:
    return outcome.aips[0].aip_id


def test_each_stage_has_its_own_item_table() -> None:
    codes = {stage: {i["code"] for i in items_for(stage)} for stage in ("GD", "YJ", "BC")}
    assert codes["GD"] != codes["YJ"] != codes["BC"] != codes["GD"]
    checks = {stage: {i["check"] for i in items_for(stage)} for stage in ("GD", "YJ", "BC")}
    assert "fixity_history" in checks["BC"] and "fixity_history" not in checks["GD"]
    assert "eep_signatures" in checks["YJ"] and "archival_code" not in checks["BC"]  # BC does not redo 归档
    for stage in ("GD", "YJ", "BC"):
        assert all(i["evidence"] and i["en"] for i in items_for(stage))


def test_gd_and_bc_on_one_aip_report_different_items(ops_archive) -> None:
    from flows.archive_case import check4_for

    aip = _aip(ops_archive.first)
    gd, bc = (check4_for(ops_archive.settings_b, aip, stage) for stage in ("GD", "BC"))
    assert {i.code for i in gd.items} == {f"GD-{i['code']}" for i in items_for("GD")}
    assert {i.code for i in bc.items} == {f"BC-{i['code']}" for i in items_for("BC")}
    bc_out = {i.item: i for i in bc.items}
    assert bc_out["1-1"].outcome == "pass"  # every version's signature, across the key rotation
    assert bc_out["1-3"].outcome == "fail" and "no evidence" in bc_out["1-3"].evidence[0]  # never audited
    assert bc_out["1-4"].outcome == "pass"


def test_a_full_audit_is_the_evidence_of_fixity_history(ops_archive, ops_copy) -> None:
    from flows.archive_case import check4_for
    from flows.audit_fixity import audit

    settings = ops_settings(ops_copy(ops_archive.home), "b")
    assert audit(settings, mode="full").failures == []
    item = next(i for i in check4_for(settings, _aip(ops_archive.first), "BC").items if i.item == "1-3")
    assert item.outcome == "pass" and "full audit AUD-" in item.evidence[0]


def test_a_manual_item_stays_open_until_a_named_person_signs_it_off(ops_archive, ops_copy) -> None:
    from archive.auditlog import read_entries
    from flows.archive_case import check4_for

    settings = ops_settings(ops_copy(ops_archive.home), "b")
    aip = _aip(ops_archive.first)
    before = check4_for(settings, aip, "GD")
    assert "GD-2-11" in before.open and before.status != "pass"
    head = f"v{OcflStore(settings.storage_root).head(ocfl_id_for(aip))}"
    with session(settings.catalog_url) as s, pytest.raises(InputRejected) as refused:
        sign_off(s, code="GD-2-11", subject=head, by="station:GZZY-SM03", decision="pass", note="-", aip_id=aip)
    assert refused.value.code == "E701"
    ops_people(settings)
    with session(settings.catalog_url) as s:
        sign_off(s, code="GD-2-11", subject=head, by=ARCHIVIST, decision="pass", note="58 sheets, all legible", aip_id=aip)
        s.commit()
    after = {i.code: i for i in check4_for(settings, aip, "GD").items}
    assert after["GD-2-11"].outcome == "pass" and after["GD-2-11"].signed_off_by.startswith(ARCHIVIST)
    assert "58 sheets" in after["GD-2-11"].evidence[0] and after["GD-2-7"].outcome == "manual"
    logged = [json.loads(raw)["event"] for _, raw in read_entries(settings.home / "log")]
    assert any(e["event_type"] == "check4 sign-off" and e["object_path"] == f"check4:GD-2-11@{head}" for e in logged)


def test_signoff_cli_refuses_a_machine_item_and_exit_4_while_items_are_open(ops_archive, ops_copy) -> None:
    import typer

    from cli.archive_commands import register

    settings = ops_settings(ops_copy(ops_archive.home), "b")
    ops_people(settings)
    app = typer.Typer()
    register(app, lambda: settings)
    aip = _aip(ops_archive.first)
    machine = CliRunner().invoke(app, ["check4-signoff", aip, "--stage", "GD", "--item", "3-3", "--by", AUDITOR,
                                       "--decision", "pass", "--note", "looks fine"])
    assert machine.exit_code != 0 and isinstance(machine.exception, InputRejected) and machine.exception.code == "E700"
    done = CliRunner().invoke(app, ["check4-signoff", aip, "--stage", "GD", "--item", "4-1", "--by", AUDITOR,
                                    "--decision", "pass", "--note", "ClamAV 1.0 installed", "--json"])
    assert done.exit_code == 0, done.output
    report = CliRunner().invoke(app, ["check4", aip, "--stage", "GD", "--json"])
    obj = json.loads(report.output)
    assert report.exit_code == 4 and "GD-4-1" not in obj["open"] and "GD-2-7" in obj["open"]


def _record_and_premis(ops_archive):
    store = OcflStore(ops_archive.settings_b.storage_root)
    files = store.files(ocfl_id_for(_aip(ops_archive.first)))
    record = CaseRecord.model_validate_json(files[CASE_JSON].path.read_bytes())
    tree = etree.parse(str(files[PREMIS_XML].path))
    return record, tree, {p: r.path for p, r in files.items()}


def _with_tool_events(tree, files, tool: str, version: str, event_type: str, outcome: str):
    """The PREMIS tree plus one event per file by ``tool`` (as the formats work records them)."""
    tree = copy.deepcopy(tree)
    root = tree.getroot()
    agent = premis.Agent(f"software:{tool}-{version}", tool, "software", version=version)
    premis._agent_element(root, agent)
    for f in files:
        premis._event_element(root, premis.Event(event_type, "2024-01-01T00:00:00+00:00", f"{tool} on {f.path}",
                                                 outcome, agents=((agent.id, "executing program"),),
                                                 objects=((premis.object_id(f), "source"),)).identified())
    return tree


def test_a_pdfa_claim_alone_fails_3_3_and_validator_evidence_passes_it(ops_archive) -> None:
    record, tree, paths = _record_and_premis(ops_archive)
    pdfa = [d.pdfa for d in record.documents if d.pdfa]
    claim_only = formats_verdict(tree, record, paths)
    assert claim_only[0] == "fail" and all("no evidence" in e for e in claim_only[1])
    validated = _with_tool_events(tree, pdfa, "veraPDF", "1.28.1", "validation", "pass")
    assert formats_verdict(validated, record, paths)[0] == "pass"
    failing = _with_tool_events(tree, pdfa, "veraPDF", "1.28.1", "validation", "fail")
    assert formats_verdict(failing, record, paths)[0] == "fail"


def test_a_file_that_is_not_pdfa_fails_3_3_even_with_a_passing_event(ops_archive) -> None:
    record, tree, paths = _record_and_premis(ops_archive)
    doc = record.documents[0]
    validated = _with_tool_events(tree, [doc.pdfa], "veraPDF", "1.28.1", "validation", "pass")
    swapped = {**paths, doc.pdfa.path: paths[doc.original.path]}  # the scan where the PDF/A should be
    outcome, evidence = formats_verdict(validated, record, swapped)
    assert outcome == "fail" and any(doc.pdfa.path in e and "not PDF/A" in e for e in evidence)


def test_virus_item_needs_an_archive_scan_of_every_submitted_file(ops_archive) -> None:
    record, tree, _ = _record_and_premis(ops_archive)
    originals = [d.original for d in record.documents]
    assert virus_verdict(tree, record)[0] == "fail"
    scanned = _with_tool_events(tree, originals, "ClamAV", "1.0.7/27500", "virus check", "pass")
    outcome, evidence = virus_verdict(scanned, record)
    assert outcome == "pass" and "ClamAV 1.0.7/27500" in evidence[1]
    one_missing = _with_tool_events(tree, originals[1:], "ClamAV", "1.0.7/27500", "virus check", "pass")
    assert virus_verdict(one_missing, record)[0] == "fail"


def test_archiving_refuses_open_items_and_an_acceptance_without_a_reason(ops_archive, ops_copy) -> None:
    from flows.archive_case import archive_case

    settings = ops_settings(ops_copy(ops_archive.home), "b")
    ops_people(settings)
    case_number = ops_archive.first.aips[0].case_number
    with pytest.raises(VerificationFailed) as refused:
        archive_case(settings, case_number, ARCHIVIST)
    assert refused.value.code == "E443" and "GD-2-11" in str(refused.value)
    with pytest.raises(InputRejected) as nobody:
        archive_case(settings, case_number, "archivist:nobody")
    assert nobody.value.code == "E701"


def test_ocfl_version_users_are_people(ops_archive) -> None:
    store = OcflStore(ops_archive.settings_b.storage_root)
    aip = _aip(ops_archive.first)
    first = store.version_info(ocfl_id_for(aip), 1)
    record = CaseRecord.model_validate_json(store.files(ocfl_id_for(aip), 1)[CASE_JSON].path.read_bytes())
    submission = record.submissions[0]
    assert first.agent == f"{submission.operator_id} ({submission.operator_name})"
