"""Key rotation, 四性检测 and 归档 on real ingests (OCR included) of the sample batches."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bagit
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from archive.archiving import CHECK4_GD
from archive.catalog import session
from archive.catalog.models import Aip, AipVersion, Case
from archive.check4 import run_check4
from archive.package import CASE_JSON, CaseRecord
from archive.records import document_id_for, ocfl_id_for
from archive.storage import OcflStore
from archive.verify import verify_object
from flows._runtime import trusted_certificates
from ingest.manifest import read_manifest
from tests.archive.conftest import store_validate_root
from tests.archive_ops.conftest import NO_TOOL_EVIDENCE_YET, ops_ready_for_archiving, ops_settings

pytestmark = pytest.mark.slow


def _cert(settings):
    from cryptography import x509

    return x509.load_pem_x509_certificate(settings.signing_cert.read_bytes())


def _by_case(outcome) -> dict[str, str]:
    return {a.case_number: a.aip_id for a in outcome.aips}


def test_old_aips_verify_with_the_old_certificate_new_ones_with_the_new(ops_archive) -> None:
    store = OcflStore(ops_archive.settings_a.storage_root)
    old = set(_by_case(ops_archive.first).values()) - set(_by_case(ops_archive.second).values())
    new = set(_by_case(ops_archive.second).values())
    cert_a, cert_b = _cert(ops_archive.settings_a), _cert(ops_archive.settings_b)
    assert old and new and cert_a != cert_b
    assert {c.subject for c in trusted_certificates(ops_archive.settings_b)} >= {cert_a.subject, cert_b.subject}
    for aip in old:
        assert verify_object(store, ocfl_id_for(aip), [cert_a]) == []
        assert [f.kind for f in verify_object(store, ocfl_id_for(aip), [cert_b])] == ["signature"]
    for aip in new:
        assert verify_object(store, ocfl_id_for(aip), [cert_b]) == []
        assert [f.kind for f in verify_object(store, ocfl_id_for(aip), [cert_a])] == ["signature"]


def _outcomes(report) -> dict[str, str]:
    return {i.item: i.outcome for i in report.items}


def test_check4_before_archiving_fails_the_archival_code_the_unsigned_log_and_missing_evidence(ops_archive) -> None:
    settings = ops_archive.settings_b
    aip = next(iter(_by_case(ops_archive.second).values()))
    from flows.archive_case import check4_for

    report = check4_for(settings, aip, "GD")
    outcomes = _outcomes(report)
    assert set(report.failed) - set(NO_TOOL_EVIDENCE_YET) == {"GD-1-7", "GD-4-5"}, \
        [i for i in report.items if i.outcome == "fail"]
    assert "no signed head" in " ".join(next(i for i in report.items if i.item == "4-5").evidence)
    assert outcomes["1-11"] == outcomes["1-1"] == outcomes["1-14"] == outcomes["1-15"] == outcomes["3-4"] == "pass"
    assert outcomes["2-11"] == "manual" and report.status == "fail" and not report.ok
    assert "3-9" not in outcomes  # the replica item is not a GD item


def test_archive_case_keeps_the_gd_report_in_a_new_signed_version(ops_archive, ops_copy, tmp_path) -> None:
    from flows.archive_case import archive_case

    settings = ops_settings(ops_copy(ops_archive.home), "b")  # the shared home's case stays unarchived
    case_number, aip = next(iter(_by_case(ops_archive.second).items()))
    store = OcflStore(settings.storage_root)
    before = store.head(ocfl_id_for(aip))
    accepted = ops_ready_for_archiving(settings, aip)
    out = archive_case(settings, case_number, "archivist:lin", accepted=accepted, reason="veraPDF and ClamAV not yet installed")
    assert out.created and out.version == before + 1
    assert out.archival_code.startswith(f"{settings.fonds_code}-")
    files = store.files(ocfl_id_for(aip))
    report = json.loads(files["data/metadata/check4-GD.json"].path.read_bytes())
    assert report["stage"] == "GD" and report["version"] == before
    assert out.archival_code.encode() in files["data/metadata/METS.xml"].path.read_bytes()
    assert store.version_info(ocfl_id_for(aip), out.version).agent == "archivist:lin (林档案)"  # a person, not a key
    after = run_check4(store, aip, "GD", trusted=trusted_certificates(settings),
                       rule=__import__("flows.archive_case", fromlist=["archival_rule"]).archival_rule(settings),
                       catalog_url=settings.catalog_url, log_dir=settings.home / "log")
    assert set(after.failed) <= set(accepted), [i for i in after.items if i.outcome == "fail"]
    assert after.open  # the 归档 version is a new version: its manual items are open again
    store_validate_root(settings.storage_root)
    bag = store.checkout(ocfl_id_for(aip), tmp_path / "bag")
    bagit.Bag(str(bag)).validate()
    again = archive_case(settings, case_number, "archivist:lin")
    assert not again.created and again.archival_code == out.archival_code and again.version == out.version


def _ingest_at_archiving_commit(monkeypatch, settings, batch: Path) -> list[int]:
    """When 归档's first commit arrives, run the real ingest of ``batch`` in another thread to its
    end first: 归档 has read the head and built its version on it, and the ingest commits the
    next version of the case before 归档 commits. Returns the head 归档's commit arrived at."""
    from flows.ingest_batch import ingest_batch

    commit, arrived = OcflStore.commit, []

    def commit_after_ingest(self, object_id: str, src_dir: Path, **kwargs):
        if kwargs["message"].startswith("archive ") and not arrived:
            arrived.append(self.head(object_id))
            with ThreadPoolExecutor(1) as pool:
                outcome = pool.submit(ingest_batch, batch, settings).result()
            assert outcome.status == "archived", outcome.problems
        return commit(self, object_id, src_dir, **kwargs)

    monkeypatch.setattr(OcflStore, "commit", commit_after_ingest)
    return arrived


def test_archiving_keeps_the_documents_of_an_ingest_committed_meanwhile(ops_archive, ops_copy, tmp_path,
                                                                       monkeypatch) -> None:
    """归档 of the civil case checks out head v2 and, before it commits, an ingest of the same
    case (the sample batch of seed 3) commits v3. 归档's version must be built on v3: one built on
    v2 would drop the ingest's documents from the head and call itself v3 in case.json."""
    from flows.archive_case import archive_case
    from ingest.sample import write_sample_batch

    settings = ops_settings(ops_copy(ops_archive.home), "b")
    batch = write_sample_batch(tmp_path / "batch3", seed=3)
    case_number, aip = next(iter(_by_case(ops_archive.second).items()))
    store, ocfl_id = OcflStore(settings.storage_root), ocfl_id_for(aip)
    before = store.head(ocfl_id)
    accepted = ops_ready_for_archiving(settings, aip)
    arrived = _ingest_at_archiving_commit(monkeypatch, settings, batch)
    out = archive_case(settings, case_number, "archivist:lin", accepted=accepted, reason="tools not yet installed")
    assert arrived == [before] and out.created and out.version == before + 2 == store.head(ocfl_id)
    head = CaseRecord.model_validate_json(store.path(ocfl_id, CASE_JSON).read_bytes())
    assert (head.aip_version, head.archival_code) == (out.version, out.archival_code)
    ingested = {document_id_for(f.case_number, f.path) for f in read_manifest(batch).files_of(case_number)}
    assert ingested and {d.document_id for d in head.documents if d.batch_id == batch.name} == ingested
    assert CHECK4_GD in store.files(ocfl_id)
    with session(settings.catalog_url) as s:
        assert s.get_one(Aip, aip).head_version == out.version
        assert s.get_one(Case, case_number).status == "archived"
        versions = s.exec(select(AipVersion.version).where(AipVersion.aip_id == aip)).all()
        assert sorted(versions) == list(range(1, out.version + 1))
    assert verify_object(store, ocfl_id, trusted_certificates(settings)) == []
    store_validate_root(settings.storage_root)


def test_check4_reports_a_flipped_byte_by_item(ops_archive, ops_copy) -> None:
    home = ops_copy(ops_archive.home)
    settings = ops_settings(home, "b")
    aip = next(iter(_by_case(ops_archive.first).values()))
    store = OcflStore(settings.storage_root)
    pdfa = next(r for p, r in store.files(ocfl_id_for(aip)).items() if p.startswith("data/pdfa/"))
    data = bytearray(pdfa.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pdfa.path.write_bytes(bytes(data))
    from flows.archive_case import check4_for

    report = check4_for(settings, aip, "GD")
    assert "GD-1-11" in report.failed
    assert _outcomes(report)["1-9"] == "pass"  # metadata still agrees with the inventory
    evidence = next(i for i in report.items if i.item == "1-11").evidence
    assert any(pdfa.content_path in e and "digest" in e for e in evidence)


def _cli(settings):
    import typer

    from cli.archive_commands import register

    app = typer.Typer()
    register(app, lambda: settings)
    return app


def test_log_verify_cli_exits_4_with_the_seq_of_an_edited_entry(ops_archive, ops_copy) -> None:
    home = ops_copy(ops_archive.home)
    settings = ops_settings(home, "b")
    app, runner = _cli(settings), CliRunner()
    signed = runner.invoke(app, ["log", "sign-head", "--json"])
    assert signed.exit_code == 0, signed.output
    ok = runner.invoke(app, ["log", "verify", "--json"])
    assert ok.exit_code == 0 and json.loads(ok.output)["entries"] > 5, ok.output
    log = home / "log" / "preservation.jsonl"
    lines = log.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace('"outcome":"success"', '"outcome":"failure"')
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    bad = runner.invoke(app, ["log", "verify", "--json"])
    assert bad.exit_code == 4 and json.loads(bad.output)["first_bad_seq"] == 4, bad.output


def test_deploy_print_lists_the_da_t_70_schedules(ops_archive) -> None:
    from flows.deploy import CYCLE_DAYS, ROLLING_PERCENT, deployment_specs, to_deployment

    result = CliRunner().invoke(_cli(ops_archive.settings_b), ["deploy", "--print", "--json"])
    assert result.exit_code == 0, result.output
    specs = {d["name"]: d for d in json.loads(result.output)["deployments"]}
    assert specs["audit-sample"]["cron"] == "0 2 * * 1"  # weekly, anchored
    assert specs["audit-sample"]["parameters"]["sample_percent"] * 13 >= 5
    assert specs["audit-sample"]["parameters"]["sample_percent"] * 52 >= 100  # every file yearly
    assert specs["audit-full"]["cron"] == "0 3 * * 0" and specs["audit-full"]["parameters"] == {"mode": "rolling"}
    assert ROLLING_PERCENT * CYCLE_DAYS / 7 >= 100  # the weekly rolling share covers the store within the cycle
    assert specs["ingest-batch"]["cron"] is None and "watch" not in specs
    assert [to_deployment(s).name for s in deployment_specs(ops_archive.settings_b)] == list(specs)
