"""Fixity audit: injected faults are reported exactly, and repaired from a replica."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from archive.audit import audit_store, write_audit_report
from archive.signing import SIGNATURE_NAME, TimestampingSigner
from archive.storage import ReplicatedStore, open_store
from archive.trusted_time import TimestampAuthority
from archive.verify import verify_object
from tests.archive.conftest import store_make_bag, store_validate_root

IDS = [f"urn:uuid:00000000-0000-4000-8000-00000000000{i}" for i in range(1, 7)]
FILES = ["data/scans/0001.pdf", "data/scans/0002.pdf", "data/text/0001.txt"]


@pytest.fixture
def store_filled(tmp_path: Path, sig_signer) -> ReplicatedStore:
    """Five signed AIPs in a primary root mirrored to a replica root."""
    store = open_store(tmp_path / "primary", tmp_path / "replica")
    for number, object_id in enumerate(IDS):
        bag = store_make_bag(tmp_path / f"bag{number}", sig_signer, {
            "METS.xml": f"<mets n='{number}'/>\n".encode(), "premis.xml": b"<premis/>\n",
            "scans/0001.pdf": os.urandom(20_000), "scans/0002.pdf": os.urandom(10_000),
            "text/0001.txt": f"第{number}卷\n".encode()})
        store.commit(object_id, bag, message="归档", agent="archivist")
    return store  # type: ignore[return-value]


def _content(store: ReplicatedStore, object_id: str, logical: str) -> tuple[Path, str]:
    record = store.files(object_id)[logical]
    root = store.primary.root
    return record.path, record.path.relative_to(root).as_posix()


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))


def _inject(store: ReplicatedStore) -> set[tuple[str, str]]:
    """Flip, truncate, delete one file in each of five objects and add one file to each; edit a
    sixth object's inventory."""
    expected = set()
    for object_id in IDS[:5]:
        flipped, flipped_rel = _content(store, object_id, FILES[0])
        _flip(flipped)
        truncated, truncated_rel = _content(store, object_id, FILES[1])
        truncated.write_bytes(truncated.read_bytes()[:100])
        deleted, deleted_rel = _content(store, object_id, FILES[2])
        deleted.unlink()
        added = store.primary.object_dir(object_id) / "v1" / "content" / "data" / "intruder.pdf"
        added.write_bytes(b"%PDF not ours")
        added_rel = added.relative_to(store.primary.root).as_posix()
        expected |= {(flipped_rel, "digest"), (truncated_rel, "size"), (deleted_rel, "missing"), (added_rel, "extra")}
    inventory = store.primary.object_dir(IDS[5]) / "inventory.json"
    inventory.write_text(inventory.read_text().replace('"归档"', '"篡改"'))
    expected.add((inventory.relative_to(store.primary.root).as_posix(), "inventory"))
    return expected


def test_full_audit_reports_exactly_the_injected_faults(store_filled: ReplicatedStore, tmp_path: Path):
    expected = _inject(store_filled)
    report = audit_store(store_filled.primary, mode="full", jobs=2)
    assert {(f.path, f.kind) for f in report.findings} == expected
    assert report.repaired == [] and report.checked == len(IDS) and report.ok == 0
    assert {(f.path, f.kind) for f in report.remaining} == expected
    json_path, html_path = write_audit_report(report, tmp_path / "reports")
    assert len(json.loads(json_path.read_text())["findings"]) == len(expected)
    assert "intruder.pdf" in html_path.read_text(encoding="utf-8")


def test_replica_repairs_every_fault_and_root_validates(store_filled: ReplicatedStore):
    expected = _inject(store_filled)
    report = audit_store(store_filled.primary, mode="full", replica=store_filled.replica, jobs=2)
    assert {(f.path, f.kind) for f in report.findings} == expected
    assert {(r.path, r.kind) for r in report.repaired} == expected
    assert report.remaining == [] and report.ok == len(IDS)
    store_validate_root(store_filled.primary.root)
    assert audit_store(store_filled.primary, mode="full").remaining == []


@pytest.mark.parametrize("logical", ["data/METS.xml", "data/premis.xml", "manifest-sha256.txt",
                                     "manifest-sha512.txt", "tagmanifest-sha256.txt", SIGNATURE_NAME])
def test_editing_any_aip_metadata_byte_fails_verify(store_filled: ReplicatedStore, sig_signer, logical: str):
    trusted = [sig_signer.chain()[-1]]
    assert verify_object(store_filled, IDS[0], trusted) == []
    path, rel = _content(store_filled, IDS[0], logical)
    _flip(path)
    findings = verify_object(store_filled, IDS[0], trusted)
    assert (rel, "digest") in {(f.path, f.kind) for f in findings}
    assert all(f.reason for f in findings)
    if logical in ("tagmanifest-sha256.txt", SIGNATURE_NAME):
        assert "signature" in {f.kind for f in findings}


def test_signature_mode_reads_no_content_but_checks_signature(store_filled: ReplicatedStore):
    path, _ = _content(store_filled, IDS[1], FILES[0])
    _flip(path)
    report = audit_store(store_filled, mode="signature")
    assert report.findings == [] and report.files_checked == 0
    signature, rel = _content(store_filled, IDS[1], SIGNATURE_NAME)
    _flip(signature)
    report = audit_store(store_filled, mode="signature")
    assert [(f.path, f.kind) for f in report.findings] == [(rel, "signature")]


def test_sample_mode_reads_the_requested_share_least_recently_checked_first(store_filled: ReplicatedStore):
    first = audit_store(store_filled, mode="sample", sample_percent=20, seed=1)
    total = sum(len(store_filled.primary.inventory(i)["manifest"]) for i in IDS)
    assert first.files_checked == round(total * 0.2) and first.findings == []
    checked = {p: first.started for p in first.checked_paths}
    second = audit_store(store_filled, mode="sample", sample_percent=20, seed=1, last_checked=checked)
    assert not set(second.checked_paths) & set(first.checked_paths)


def _bag(where: Path, signer, number: int) -> Path:
    return store_make_bag(where, signer, {"METS.xml": f"<mets n='{number}'/>\n".encode(), "premis.xml": b"<premis/>\n",
                                          "scans/0001.pdf": os.urandom(2_000)})


def test_versions_signed_without_trusted_time_are_listed_and_fail_nothing(tmp_path: Path, sig_signer, tsa):
    """Issue 15: each AIP version whose signature has no timestamp token is marked "no trusted
    time" in the report; a timestamped version is not; the audit still passes."""
    store = open_store(tmp_path / "primary")
    timestamping = TimestampingSigner(sig_signer, TimestampAuthority(tsa.url))
    store.commit(IDS[0], _bag(tmp_path / "untimed", sig_signer, 0), message="归档", agent="archivist")
    store.commit(IDS[1], _bag(tmp_path / "timed", timestamping, 1), message="归档", agent="archivist")
    store.commit(IDS[1], _bag(tmp_path / "timed-v2", sig_signer, 2), message="补充", agent="archivist")
    report = audit_store(store, mode="signature")
    assert report.findings == [] and report.ok == report.checked == 2
    assert [(u.object_id, u.version, u.note) for u in report.no_trusted_time] == [
        (IDS[0], "v1", "no trusted time"), (IDS[1], "v2", "no trusted time")]
    assert all(u.path.endswith(SIGNATURE_NAME) and (store.root / u.path).is_file() for u in report.no_trusted_time)
    json_path, html_path = write_audit_report(report, tmp_path / "reports")
    assert [u["version"] for u in json.loads(json_path.read_text())["no_trusted_time"]] == ["v1", "v2"]
    assert "No trusted time (2)" in html_path.read_text(encoding="utf-8")
