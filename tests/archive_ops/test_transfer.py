"""Transfer to the state archive: two archived cases as DA/T 48 EEPs in a DA/T 93-style package,
verified on receipt and by the YJ 四性检测 (archive/transfer/, flows/transfer_export.py)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from lxml import etree
from typer.testing import CliRunner

from archive.transfer import verify_transfer_package
from archive.transfer.eep import E, encoded_files, parse_eep
from archive.transfer.package import CATALOG, DESCRIPTION
from config.settings import Settings
from flows._runtime import trusted_certificates
from tests.archive_ops.conftest import ARCHIVIST, AUDITOR, ops_people, ops_ready_for_archiving, ops_settings

pytestmark = pytest.mark.slow


@dataclass
class Transferred:
    settings: Settings
    package: Path
    cases: list[dict[str, str]]


def _cli(settings: Settings) -> typer.Typer:
    from cli.archive_commands import register as register_archive
    from cli.transfer_commands import register

    app = typer.Typer()
    register(app, lambda: settings)
    register_archive(app, lambda: settings)
    return app


@pytest.fixture(scope="module")
def transferred(ops_archive, tmp_path_factory: pytest.TempPathFactory) -> Transferred:
    """Both cases of the first batch archived (归档) in a copy of the archive, then exported."""
    from flows.archive_case import archive_case

    root = tmp_path_factory.mktemp("transfer")
    settings = ops_settings(Path(shutil.copytree(ops_archive.home, root / "home", symlinks=True)), "b")
    ops_people(settings)
    for aip in ops_archive.first.aips:
        accepted = ops_ready_for_archiving(settings, aip.aip_id)
        archive_case(settings, aip.case_number, ARCHIVIST, accepted=accepted, reason="tools not yet installed")
    out = root / "移交-2026-001"
    args = ["transfer", "export", str(out), "--json"] + [a for x in ops_archive.first.aips for a in ("--case", x.case_number)]
    result = CliRunner().invoke(_cli(settings), args)
    assert result.exit_code == 0, result.output
    return Transferred(settings, out, json.loads(result.output)["cases"])


def _verify(settings: Settings, package: Path) -> dict:
    result = CliRunner().invoke(_cli(settings), ["transfer", "verify", str(package), "--json"])
    return {"exit": result.exit_code, **json.loads(result.output)}


def test_package_has_one_folder_per_case_named_by_its_archival_code(transferred: Transferred) -> None:
    package = transferred.package
    codes = [c["archival_code"] for c in transferred.cases]
    assert len(codes) == 2 and sorted(p.name for p in package.iterdir() if p.is_dir()) == sorted(codes)
    assert (package / DESCRIPTION).is_file() and (package / CATALOG).is_file()
    eep = parse_eep(package / transferred.cases[0]["eep"])
    root = eep.getroot()
    assert root.findtext(E + "版本") == "2009" and "DA/T 48" in root.findtext(E + "封装包格式描述")
    content = root.find(f"{E}被签名对象/{E}封装内容")
    assert [c.tag.removeprefix(E) for c in content] == ["文件实体块", "业务实体块", "机构人员实体块"]
    assert root.findtext(f"{E}电子签名块/{E}电子签名/{E}签名结果")
    carried = encoded_files(eep)
    assert any(f.name.startswith("data/original/") for f in carried) and any(f.name.startswith("data/pdfa/") for f in carried)
    assert all(f.data is not None and len(f.data) == f.size for f in carried)
    people = [e.findtext(E + "机构人员名称") for e in root.iter(E + "机构人员实体")]
    assert any("林档案" in (p or "") for p in people)  # the archivist of 归档, a person


def test_a_package_as_exported_verifies(transferred: Transferred) -> None:
    result = _verify(transferred.settings, transferred.package)
    assert result["exit"] == 0 and result["valid"] and result["problems"] == []


def _tampered(transferred: Transferred, tmp_path: Path) -> Path:
    return Path(shutil.copytree(transferred.package, tmp_path / "received"))


def test_a_flipped_byte_inside_an_eeps_base64_names_the_eep_and_the_file(transferred: Transferred, tmp_path) -> None:
    package = _tampered(transferred, tmp_path)
    eep = package / transferred.cases[0]["eep"]
    data = eep.read_bytes()
    start = data.index("<编码数据>".encode()) + len("<编码数据>".encode())  # the first carried file
    at = start + 100
    swapped = bytes([data[at] + 1 if chr(data[at]) not in "Zz9+/" else ord("A")])
    eep.write_bytes(data[:at] + swapped + data[at + 1:])
    result = _verify(transferred.settings, package)
    codes = {(p["code"], p["path"].split("#")[0]) for p in result["problems"]}
    assert result["exit"] == 4 and not result["valid"]
    assert ("E733", transferred.cases[0]["eep"]) in codes  # the carried file's digest
    assert ("E734", transferred.cases[0]["eep"]) in codes  # the EEP's signature
    assert any(p["code"] == "E733" and "#data/" in p["path"] for p in result["problems"])


def test_a_missing_case_folder_is_named(transferred: Transferred, tmp_path) -> None:
    package = _tampered(transferred, tmp_path)
    gone = transferred.cases[1]["archival_code"]
    shutil.rmtree(package / gone)
    result = _verify(transferred.settings, package)
    assert result["exit"] == 4
    assert any(p["code"] == "E731" and gone in p["message"] for p in result["problems"])
    assert any(p["code"] == "E732" and "案卷数" in p["path"] for p in result["problems"])


def test_an_edited_catalog_file_is_named(transferred: Transferred, tmp_path) -> None:
    package = _tampered(transferred, tmp_path)
    catalog = package / CATALOG
    tree = etree.parse(str(catalog))
    title = next(tree.getroot().iter("{https://juanzong.example/ns/transfer/1}题名"))
    title.text = title.text + "（已修改）"
    tree.write(str(catalog), xml_declaration=True, encoding="UTF-8")
    result = _verify(transferred.settings, package)
    assert result["exit"] == 4
    assert any(p["code"] == "E733" and p["path"] == CATALOG for p in result["problems"])
    assert any(p["code"] == "E735" and p["path"] == CATALOG for p in result["problems"])


def test_yj_check4_runs_on_the_package_with_its_own_items(transferred: Transferred, tmp_path) -> None:
    app = _cli(transferred.settings)
    result = CliRunner().invoke(app, ["check4", str(transferred.package), "--stage", "YJ", "--json"])
    report = json.loads(result.output)
    outcomes = {i["code"]: i["outcome"] for i in report["items"]}
    assert result.exit_code == 4 and report["stage"] == "YJ" and report["package"] == str(transferred.package)
    assert all(c.startswith("YJ-") for c in outcomes) and "YJ-1-1" in outcomes and "GD-1-7" not in outcomes
    machine = {c: o for c, o in outcomes.items() if c not in ("YJ-3-2", "YJ-4-2", "YJ-4-1", "YJ-4-4")}
    assert set(machine.values()) == {"pass"}, [i for i in report["items"] if i["outcome"] == "fail"]
    assert outcomes["YJ-4-4"] == "manual" and "YJ-4-4" in report["open"]
    signed = CliRunner().invoke(app, ["check4-signoff", str(transferred.package), "--stage", "YJ", "--item", "4-4",
                                      "--by", AUDITOR, "--decision", "pass", "--note", "移交载体外观完好、可读"])
    assert signed.exit_code == 0, signed.output
    again = json.loads(CliRunner().invoke(app, ["check4", str(transferred.package), "--stage", "YJ", "--json"]).output)
    assert "YJ-4-4" not in again["open"]
    package = _tampered(transferred, tmp_path)
    shutil.rmtree(package / transferred.cases[1]["archival_code"])
    broken = json.loads(CliRunner().invoke(app, ["check4", str(package), "--stage", "YJ", "--json"]).output)
    assert {"YJ-2-1", "YJ-2-3"} <= set(broken["failed"])


def test_the_signature_chains_to_the_sending_archive(transferred: Transferred) -> None:
    assert verify_transfer_package(transferred.package, trusted_certificates(transferred.settings)).valid
    from archive.signing import EphemeralSigner

    stranger = [EphemeralSigner(common_name="another archive").certificate()]
    problems = verify_transfer_package(transferred.package, stranger).problems
    assert {p.code for p in problems} == {"E734"}
