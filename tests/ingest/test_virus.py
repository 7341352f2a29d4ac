"""ingest/virus.py with a real clamd on signatures made here (EICAR and a generated sample):
EICAR rejects its batch naming file and signature, a clean batch gets a virus check event per
file, and a missing or stale database is reported. One clamd for the module (about 1 s to load)."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from config.settings import load_settings
from ingest._exec import clamd, siegfried
from ingest.virus import ScannerConfig, database_status, scan_batch, virus_problems, virus_status
from tests.conftest import make_corpus

pytestmark = pytest.mark.clamav
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
COURT_SAMPLE = os.urandom(4096)  # stands in for a sample a court's security office names by hash
PREMIS = "{http://www.loc.gov/premis/v3}"


def write_signatures(db: Path) -> Path:
    """An .ndb body signature for EICAR and an .hdb hash signature for the court's sample."""
    db.mkdir(parents=True, exist_ok=True)
    (db / "juanzong-test.ndb").write_text(f"Juanzong.Test.EICAR:0:*:{EICAR.hex()}\n")
    (db / "juanzong-court.hdb").write_text(
        f"{hashlib.md5(COURT_SAMPLE).hexdigest()}:{len(COURT_SAMPLE)}:Juanzong.Test.CourtSample\n")
    return db


@pytest.fixture(scope="module")
def scanner(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("clamav")
    config = ScannerConfig(db_dir=write_signatures(root / "db"), state_dir=root / "clamd")
    yield config
    clamd.stop(config.state_dir)


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("virus-corpus") / "out", "--cases", "1", "--seed", "4")


def _infected_copy(batch: Path, dest: Path) -> Path:
    copy = Path(shutil.copytree(batch, dest / batch.name))
    (copy / "附件").mkdir()
    (copy / "附件" / "说明.txt").write_bytes(b"readme\n" + EICAR)
    (copy / "tool.bin").write_bytes(COURT_SAMPLE)
    return copy


def test_infected_files_are_named_with_their_signatures(scanner: ScannerConfig, batch: Path, tmp_path: Path):
    report = scan_batch(_infected_copy(batch, tmp_path), scanner)
    found = {(p.code, p.path, p.found, p.fatal) for p in virus_problems(report, required=False)}
    assert found == {("E190", "附件/说明.txt", "Juanzong.Test.EICAR.UNOFFICIAL", True),
                     ("E190", "tool.bin", "Juanzong.Test.CourtSample.UNOFFICIAL", True)}
    assert report.engine == f"ClamAV {clamd.version()}" and report.db_version.startswith("custom:")
    assert {s.outcome for s in report.scans if s.path not in ("附件/说明.txt", "tool.bin")} == {"pass"}


def test_eicar_rejects_the_batch_into_quarantine_before_any_check(scanner: ScannerConfig, batch: Path,
                                                                  tmp_path: Path):
    from archive.signing import ensure_dev_keys
    from flows.submission import flow_submit
    from ingest.hotfolder import take_batch

    settings = load_settings(home=tmp_path / "home", clamav_db=scanner.db_dir, ocr_jobs=2)
    ensure_dev_keys(settings.signing_key, settings.signing_cert, common_name="Juanzong virus test")
    infected = _infected_copy(batch, tmp_path / "watch")
    try:
        result = take_batch(infected, flow_submit(settings), intake_root=settings.intake_root,
                            quarantine_root=settings.quarantine_root)
    finally:
        clamd.stop(settings.clamd_state)
    assert result.status == "rejected", result
    codes = {(p["code"], p["path"]) for p in result.problems}
    assert codes == {("E190", "附件/说明.txt"), ("E190", "tool.bin")}  # rejected before E111 (unlisted)
    assert "Juanzong.Test.EICAR" in next(p["message"] for p in result.problems if p["path"] == "附件/说明.txt")
    kept = settings.quarantine_root / result.quarantine_id / infected.name
    assert (kept / "附件" / "说明.txt").read_bytes().endswith(EICAR)


@pytest.mark.slow
@pytest.mark.verapdf
def test_clean_batch_gets_a_virus_check_event_per_file(scanner: ScannerConfig, batch: Path, tmp_path: Path):
    """The real flow (OCR, veraPDF, package): every submitted file has a passing virus check
    naming engine and database; the PDF/A derivatives carry veraPDF's pass; every object a PRONOM key."""
    from archive.signing import ensure_dev_keys
    from archive.storage.ocfl import OcflStore
    from flows.ingest_batch import ingest_batch

    settings = load_settings(home=tmp_path / "home", clamav_db=scanner.db_dir,
                             clamav_socket=clamd.socket_for(scanner.state_dir), ocr_jobs=2)
    ensure_dev_keys(settings.signing_key, settings.signing_cert, common_name="Juanzong virus test")
    clean = Path(shutil.copytree(batch, tmp_path / "src" / batch.name))
    scan_batch(clean, scanner)  # makes sure the module's clamd is up: the flow uses its socket
    outcome = ingest_batch(clean, settings)
    assert outcome.status == "archived", outcome.problems
    (aip,) = outcome.aips
    store = OcflStore(settings.storage_root)
    root = etree.parse(str(store.path(f"urn:uuid:{aip.aip_id}", "data/metadata/premis.xml"))).getroot()
    objects = {o.findtext(f".//{PREMIS}contentLocationValue"): o.findtext(f".//{PREMIS}objectIdentifierValue")
               for o in root.findall(PREMIS + "object")}
    submitted = [p.relative_to(clean).as_posix() for p in sorted(clean.rglob("*")) if p.is_file()]
    checks = [e for e in root.findall(PREMIS + "event") if e.findtext(PREMIS + "eventType") == "virus check"]
    checked = {e.findtext(f".//{PREMIS}linkingObjectIdentifierValue") for e in checks}
    expected = {objects[f"data/original/{p}"] for p in submitted if p != "manifest.json"}
    expected.add(objects[f"data/metadata/submissions/{outcome.batch_id}/manifest.json"])
    assert checked == expected and len(checks) == len(submitted)
    assert {e.findtext(f".//{PREMIS}eventOutcome") for e in checks} == {"pass"}
    agents = {a.findtext(f".//{PREMIS}agentName"): a.findtext(PREMIS + "agentVersion")
              for a in root.findall(PREMIS + "agent")}
    assert agents[f"ClamAV {clamd.version()}"].startswith("custom:")
    assert agents["veraPDF"] and agents["siegfried"]
    validations = [e for e in root.findall(PREMIS + "event") if e.findtext(PREMIS + "eventType") == "validation"
                   and e.findtext(f".//{PREMIS}linkingAgentIdentifierValue").startswith("software:veraPDF-")]
    assert validations and {e.findtext(f".//{PREMIS}eventOutcome") for e in validations} == {"pass"}
    keys = {o.findtext(f".//{PREMIS}contentLocationValue"): o.findtext(f".//{PREMIS}formatRegistryKey")
            for o in root.findall(PREMIS + "object")}
    files = {p: store.path(f"urn:uuid:{aip.aip_id}", p) for p in keys}
    answers = siegfried.identify(list(files.values()))
    assert keys == {p: answers[f.absolute()].puid for p, f in files.items()}
    assert {k for p, k in keys.items() if p.startswith("data/pdfa/")} == {"fmt/477"}


def test_without_a_database_nothing_is_scanned_and_it_says_so(batch: Path, tmp_path: Path):
    config = ScannerConfig(db_dir=None, state_dir=tmp_path / "clamd")
    report = scan_batch(batch, config)
    assert {s.outcome for s in report.scans} == {"not performed"} and report.db_version == ""
    problems = virus_problems(report, required=False)
    assert {p.code for p in problems} == {"E193"} and not any(p.fatal for p in problems)
    assert len(problems) == sum(1 for p in batch.rglob("*") if p.is_file())
    assert all(p.fatal for p in virus_problems(report, required=True))
    assert not (tmp_path / "clamd").exists()


def test_database_status_for_health_and_status(scanner: ScannerConfig, tmp_path: Path):
    fresh = database_status(scanner)
    assert fresh.ok and fresh.engine == f"ClamAV {clamd.version()}" and fresh.db_age_days < 1
    assert fresh.db_version.startswith("custom:")
    stale_db = write_signatures(tmp_path / "stale")
    old = time.time() - 30 * 86400
    for f in stale_db.iterdir():
        os.utime(f, (old, old))
    stale = database_status(scanner.model_copy(update={"db_dir": stale_db}))
    assert not stale.ok and 29 < stale.db_age_days < 31 and "older than 7 days" in stale.reason
    empty = database_status(scanner.model_copy(update={"db_dir": tmp_path / "nothing-here"}))
    assert not empty.ok and "no ClamAV signature files" in empty.reason
    status = virus_status(load_settings(home=tmp_path / "home"))
    assert set(status) >= {"engine", "db_version", "db_age_days", "ok"} and status["ok"] is False
    assert "JUANZONG_CLAMAV_DB" in status["reason"]


def test_official_database_header_gives_version_and_age(tmp_path: Path):
    """A .cvd names its version and build time in its 512-byte header (no need to unpack it)."""
    db = tmp_path / "db"
    db.mkdir()
    built = datetime.now(timezone.utc) - timedelta(days=3)
    header = f"ClamAV-VDB:01 Dec 2026 09-26 +0000:27123:2000000:90:{'0' * 32}:sig:builder:{int(built.timestamp())}"
    (db / "daily.cvd").write_bytes(header.encode().ljust(512, b" "))
    status = database_status(ScannerConfig(db_dir=db, state_dir=tmp_path / "s"))
    assert status.db_version == "daily:27123" and 2.9 < status.db_age_days < 3.1 and status.ok
