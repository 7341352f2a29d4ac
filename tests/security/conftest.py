"""One archive built by the real flows for the attacker's cases (issue 14): the sample batch
(two cases, nine pages, real OCR) ingested once, its enforcement case archived (归档), so that AIP
has two versions; a reading service and two archivists; the log head signed. Tests that damage
anything work on a copy (``damaged``)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import asn1crypto.tsp  # noqa: F401  before ingest signs an AIP
import pytest

from config.settings import Settings
from tests.archive_ops.conftest import ops_ready_for_archiving

os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


@dataclass(frozen=True)
class Archive:
    settings: Settings
    civil: str  # case number, in progress, one version
    archived: str  # case number, archived: two versions
    archived_aip: str
    service_key: str
    li_key: str  # archivist:li
    wang_key: str  # archivist:wang


@pytest.fixture(scope="session")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    from api.reading import add_principal
    from archive.auditlog import sign_head
    from archive.signing import ensure_dev_keys
    from flows._runtime import open_signer
    from flows.archive_case import archive_case
    from flows.ingest_batch import ingest_batch
    from ingest.sample import CASE_NUMBER, write_sample_batch

    root = tmp_path_factory.mktemp("attacks")
    settings = Settings(home=root / "home", ocr_jobs=2)
    ensure_dev_keys(settings.signing_key, settings.signing_cert, common_name="Juanzong attack archive")
    outcome = ingest_batch(write_sample_batch(root / "sample", seed=1), settings)
    assert outcome.status == "archived", outcome
    other = next(a for a in outcome.aips if a.case_number != CASE_NUMBER)
    keys = {name: add_principal(settings.catalog_url, name, kind=kind, roles=roles)
            for name, kind, roles in (("weifayuan", "service", ["reading-service"]),
                                      ("li", "archivist", ["archivist"]), ("wang", "archivist", ["archivist"]))}
    archived = archive_case(settings, other.case_number, "archivist:li",
                            accepted=ops_ready_for_archiving(settings, other.aip_id, "archivist:li"),
                            reason="this test archive has no ClamAV database")
    assert archived.version == 2, archived
    sign_head(settings.log_dir, open_signer(settings), catalog_url=settings.catalog_url)
    return Archive(settings=settings, civil=CASE_NUMBER, archived=other.case_number, archived_aip=other.aip_id,
                   service_key=keys["weifayuan"], li_key=keys["li"], wang_key=keys["wang"])


@pytest.fixture
def damaged(archive: Archive, tmp_path: Path) -> Archive:
    """A copy of the archive's home to attack (the shared one stays intact)."""
    home = Path(shutil.copytree(archive.settings.home, tmp_path / "home", symlinks=True))
    return Archive(**{**archive.__dict__, "settings": Settings(home=home, ocr_jobs=2)})
