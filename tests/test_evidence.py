"""Evidence end to end: signed station manifests, CAdES-T AIP versions checked with OpenSSL and
the archive root alone, and archival-timestamp renewal when a TSA certificate nears its end.

OCR is made to fail at once (a language with no traineddata) so that each ingest costs seconds:
what is under test here is the evidence, and a document whose OCR failed is archived all the same.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta, timezone
import subprocess
from pathlib import Path

import pytest
from asn1crypto import cms
from cryptography import x509
from lxml import etree

from api.stations import add_station
from archive.pki import ensure_dev_pki
from archive.signing import SIGNATURE_NAME, SIGNED_FILE, ensure_dev_keys
from config.settings import Settings
from flows._runtime import pki_paths
from flows.aip_queries import export_aip, show_aip, verify_aip
from flows.ingest_batch import ingest_batch
from ingest.sample import STATION, write_sample_batch
from ingest.station_signature import NOT_AUTHENTICATED, sign_manifest

pytestmark = pytest.mark.slow

os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
NO_SUCH_LANGUAGE = "zzz"
PREMIS = "{http://www.loc.gov/premis/v3}"


class Station:
    def __init__(self, folder: Path, name: str) -> None:
        self.key, self.cert = folder / f"{name}.key", folder / f"{name}.pem"
        ensure_dev_keys(self.key, self.cert, common_name=f"scanning station {name}")

    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert.read_bytes())


@pytest.fixture(scope="module", autouse=True)
def prefect_server(prefect_api):
    """Flows run in-process against the session's Prefect server (an ephemeral one per process
    can miss its start-up deadline on a loaded machine)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: prefect_api}):
        yield


@pytest.fixture(scope="module")
def world(tmp_path_factory, tsa):
    root = tmp_path_factory.mktemp("evidence")
    settings = Settings(home=root / "home", ocr_languages=NO_SUCH_LANGUAGE, tsa_url=tsa.url, tsa_root_cert=tsa.root)
    ensure_dev_pki(pki_paths(settings))
    ours, theirs = Station(root / "stations", STATION), Station(root / "stations", "GZZY-SM04")
    add_station(settings.catalog_url, STATION, certificate=ours.certificate())
    add_station(settings.catalog_url, "GZZY-SM04", certificate=theirs.certificate())
    batch = write_sample_batch(root / "sample", seed=1)
    return settings, batch, ours, theirs, root


def _copy(batch: Path, where: Path) -> Path:
    return Path(shutil.copytree(batch, where / batch.name))


@pytest.fixture(scope="module")
def archived(world):
    settings, batch, ours, _, root = world
    signed = _copy(batch, root / "signed")
    sign_manifest(signed, ours.key, ours.cert)
    outcome = ingest_batch(signed, settings)
    assert outcome.status == "archived", outcome
    return outcome


def _codes(outcome) -> list[str]:
    return [p["code"] for p in outcome.problems]


def test_unsigned_wrongly_signed_and_other_station_signed_batches_are_refused(world, tmp_path: Path) -> None:
    settings, batch, ours, theirs, _ = world
    unsigned = _copy(batch, tmp_path / "unsigned")
    wrong = _copy(batch, tmp_path / "wrong")
    sign_manifest(wrong, ours.key, ours.cert)
    (wrong / "manifest.json").write_bytes((wrong / "manifest.json").read_bytes().replace(b"}", b" }", 1))
    other = _copy(batch, tmp_path / "other")
    sign_manifest(other, theirs.key, theirs.cert)
    for folder, code in ((unsigned, "E180"), (wrong, "E181"), (other, "E182")):
        outcome = ingest_batch(folder, settings)
        assert outcome.status == "rejected" and code in _codes(outcome), (code, outcome)
        assert STATION in next(p["message"] for p in outcome.problems if p["code"] == code)


def test_signed_batch_is_archived_with_its_signature_and_a_premis_event(world, archived, tmp_path: Path) -> None:
    settings, _, ours, _, _ = world
    aip = archived.aips[0]
    bag = export_aip(settings, aip.aip_id, tmp_path)
    submissions = bag / "data" / "metadata" / "submissions"
    manifest = next(submissions.rglob("manifest.json"))
    proc = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", f"{manifest}.p7s",
                           "-content", str(manifest), "-CAfile", str(ours.cert), "-purpose", "any",
                           "-out", "/dev/null"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    premis = etree.parse(str(bag / "data" / "metadata" / "premis.xml"))
    details = [e.findtext(f"{PREMIS}eventDetailInformation/{PREMIS}eventDetail") or ""
               for e in premis.iter(f"{PREMIS}event")
               if e.findtext(f"{PREMIS}eventType") == "digital signature validation"]
    assert any(f"signed by station {STATION}" in d for d in details), details
    shown = show_aip(settings, aip.aip_id)
    assert shown["submissions"][0]["source"].startswith(f"manifest signed by station {STATION}")


def test_exported_version_verifies_with_openssl_root_only_and_its_timestamp(world, archived, tsa,
                                                                             tmp_path: Path) -> None:
    settings = world[0]
    bag = export_aip(settings, archived.aips[0].aip_id, tmp_path)
    proc = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(bag / SIGNATURE_NAME),
                           "-content", str(bag / SIGNED_FILE), "-CAfile", str(settings.root_cert), "-purpose", "any",
                           "-out", "/dev/null"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    info = cms.ContentInfo.load((bag / SIGNATURE_NAME).read_bytes())["content"]["signer_infos"][0]
    (tmp_path / "token.der").write_bytes(info["unsigned_attrs"][0]["values"][0].dump())
    (tmp_path / "value.bin").write_bytes(info["signature"].native)
    proc = subprocess.run(["openssl", "ts", "-verify", "-token_in", "-in", str(tmp_path / "token.der"),
                           "-data", str(tmp_path / "value.bin"), "-CAfile", str(tsa.root)],
                          capture_output=True, text=True)
    assert "Verification: OK" in proc.stdout, proc.stdout + proc.stderr
    verdict = verify_aip(settings, archived.aips[0].aip_id)
    assert verdict["valid"] and verdict["signature_time"].startswith("trusted time "), verdict


def test_a_station_without_certificate_is_taken_as_not_authenticated(world, tmp_path: Path) -> None:
    _, batch, _, _, _ = world
    settings = Settings(home=tmp_path / "home", ocr_languages=NO_SUCH_LANGUAGE)
    ensure_dev_pki(pki_paths(settings))
    outcome = ingest_batch(_copy(batch, tmp_path), settings)
    assert outcome.status == "archived", outcome
    shown = show_aip(settings, outcome.aips[0].aip_id)
    assert shown["submissions"][0]["source"].startswith(NOT_AUTHENTICATED)
    assert verify_aip(settings, outcome.aips[0].aip_id)["signature_time"] == "no trusted time"
    _audit_marks_no_trusted_time(settings, [a.aip_id for a in outcome.aips])


def _audit_marks_no_trusted_time(settings: Settings, aip_ids: list[str]) -> None:
    """``juanzong audit`` (its JSON and its table) marks each version "no trusted time" and still passes."""
    import json

    from typer.testing import CliRunner

    import cli.main

    cli.main.State.settings = settings
    result = CliRunner().invoke(cli.main.app, ["audit", "--signature", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["failures"] == [] and answer["ok"] == answer["checked"] == len(aip_ids), answer
    assert sorted((u["aip_id"], u["version"], u["note"]) for u in answer["no_trusted_time"]) == sorted(
        (aip_id, "v1", "no trusted time") for aip_id in aip_ids)
    report = json.loads(Path(answer["report"]).read_text(encoding="utf-8"))
    assert len(report["no_trusted_time"]) == len(aip_ids)
    table = CliRunner().invoke(cli.main.app, ["audit", "--signature"], env={"COLUMNS": "250"})
    rows = [line for line in table.stdout.splitlines() if "no trusted time" in line]
    assert table.exit_code == 0 and len(rows) == len(aip_ids) and f"{aip_ids[0]} v1" in table.stdout, table.output


def test_renewal_adds_an_archive_timestamp_and_the_old_version_still_validates_later(world, tmp_path: Path) -> None:
    """Time moves forward: the first TSA's certificate lives two days; after the renewal (a
    second TSA, ten years), version 1 still validates ten days on, when that certificate has
    expired and the version's own signature timestamp alone no longer would."""
    from archive.evidence import evidence_path
    from archive.records import ocfl_id_for
    from archive.trusted_time import check_signature_timestamp
    from flows._runtime import open_store
    from flows.aip_queries import verify_version_evidence
    from flows.renew_timestamps import renew_timestamps
    from tests.conftest import start_tsa, stop_tsa

    _, batch, _, _, _ = world
    short, long = start_tsa(tmp_path / "tsa1", days=2, name="short TSA"), start_tsa(tmp_path / "tsa2", name="long TSA")
    try:
        roots = tmp_path / "tsa-roots.pem"
        roots.write_bytes(short.root.read_bytes() + long.root.read_bytes())
        home = tmp_path / "home"
        first = Settings(home=home, ocr_languages=NO_SUCH_LANGUAGE, tsa_url=short.url, tsa_root_cert=roots)
        ensure_dev_pki(pki_paths(first))
        aip_ids = sorted(a.aip_id for a in ingest_batch(_copy(batch, tmp_path), first).aips)
        aip_id = aip_ids[0]
        later = Settings(home=home, tsa_url=long.url, tsa_root_cert=roots, timestamp_renewal_days=30)
        outcome = renew_timestamps(later)
        assert sorted((r.aip_id, r.version, list(r.renewed)) for r in outcome.renewed) == \
            [(a, 2, [1]) for a in aip_ids], outcome
        assert all("TSA certificate ends" in r.renewed[1] for r in outcome.renewed)
        store, ocfl_id = open_store(later), ocfl_id_for(aip_id)
        assert evidence_path(1) in store.files(ocfl_id)
        future = datetime.now(timezone.utc) + timedelta(days=10)
        v1_signature = store.path(ocfl_id, SIGNATURE_NAME, 1).read_bytes()
        assert not check_signature_timestamp(v1_signature, [x509.load_pem_x509_certificate(short.root.read_bytes())],
                                             future).valid
        assert verify_version_evidence(later, aip_id, 1, future)["valid"], verify_version_evidence(later, aip_id, 1, future)
        assert verify_aip(later, aip_id)["valid"]
        assert renew_timestamps(later).renewed == []  # nothing due any more
        retired = Settings(home=home, tsa_url=long.url, tsa_root_cert=roots, retired_digest_algorithms=["sha512"])
        again = renew_timestamps(retired)
        assert {(r.version, tuple(r.renewed)) for r in again.renewed} == {(3, (1,))}, again  # v1's record: sha512
        assert verify_version_evidence(retired, aip_id, 1, future)["valid"]
    finally:
        stop_tsa(short)
        stop_tsa(long)


def test_an_sm2_signed_aip_verifies_with_an_implementation_we_do_not_sign_with(world, tsa, tmp_path: Path) -> None:
    """SM2/SM3 signatures come from GmSSL (gmssl-pyx); the pure-Python ``gmssl`` package checks
    the exported version's signature, and OpenSSL (with the SM2 distinguishing ID) its chain."""
    from asn1crypto import pem as asn1_pem
    from asn1crypto import x509 as asn1_x509
    from gmssl import sm2 as pure_sm2
    from gmssl import sm3 as pure_sm3

    _, batch, _, _, _ = world
    settings = Settings(home=tmp_path / "home", ocr_languages=NO_SUCH_LANGUAGE, signature_algorithm="sm2",
                        tsa_url=tsa.url, tsa_root_cert=tsa.root)
    ensure_dev_pki(pki_paths(settings), algorithm="sm2")
    outcome = ingest_batch(_copy(batch, tmp_path), settings)
    assert outcome.status == "archived", outcome
    assert verify_aip(settings, outcome.aips[0].aip_id)["valid"]
    bag = export_aip(settings, outcome.aips[0].aip_id, tmp_path / "export")
    signed = cms.ContentInfo.load((bag / SIGNATURE_NAME).read_bytes())["content"]
    info = signed["signer_infos"][0]
    assert info["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.501"
    digest = next(a["values"][0].native for a in info["signed_attrs"] if a["type"].native == "message_digest")
    content = (bag / SIGNED_FILE).read_bytes()
    assert bytes.fromhex(pure_sm3.sm3_hash(list(content))) == digest
    leaf = asn1_x509.Certificate.load(asn1_pem.unarmor(settings.signing_cert.read_bytes())[2])
    point = bytes(leaf.public_key["public_key"])[1:].hex()
    checker = pure_sm2.CryptSM2(private_key="", public_key=point, asn1=True)
    attrs = b"\x31" + info["signed_attrs"].dump()[1:]
    assert checker.verify_with_sm3(info["signature"].native.hex(), attrs)
    assert not checker.verify_with_sm3(info["signature"].native.hex(), attrs + b" ")
    proc = subprocess.run(["openssl", "verify", "-vfyopt", "distid:1234567812345678", "-CAfile",
                           str(settings.root_cert), str(settings.signing_cert)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
