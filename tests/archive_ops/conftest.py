"""Fixtures for archive operations: one archive home with two real ingests across a key rotation.

The ingests run the real flow (OCR included) in-process, once per session: the sample batch
(seed 1) signed with key A, then the sample batch of seed 2 (same civil case, another
enforcement case) signed with key B.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

from archive.signing import ensure_dev_keys  # noqa: E402
from config.settings import Settings, load_settings  # noqa: E402


@dataclass
class RotatedArchive:
    home: Path
    settings_a: Settings
    settings_b: Settings
    first: object  # IngestOutcome of the seed-1 batch (key A)
    second: object  # IngestOutcome of the seed-2 batch (key B)


def ops_settings(home: Path, key: str) -> Settings:
    keys = home / "keys"
    return load_settings(home=home, signing_key=keys / f"{key}.key", signing_cert=keys / f"{key}.pem",
                         ocr_jobs=2)


def ops_keys(settings: Settings, name: str) -> None:
    ensure_dev_keys(settings.signing_key, settings.signing_cert, common_name=f"Juanzong test archive key {name}")


@pytest.fixture(scope="session")
def ops_archive(tmp_path_factory: pytest.TempPathFactory) -> RotatedArchive:
    from flows.ingest_batch import ingest_batch
    from ingest.sample import write_sample_batch

    root = tmp_path_factory.mktemp("ops")
    home = root / "home"
    settings_a, settings_b = ops_settings(home, "a"), ops_settings(home, "b")
    ops_keys(settings_a, "A")
    first = ingest_batch(write_sample_batch(root / "batch1", seed=1), settings_a)
    assert first.status == "archived", first.problems
    ops_keys(settings_b, "B")
    second = ingest_batch(write_sample_batch(root / "batch2", seed=2), settings_b)
    assert second.status == "archived", second.problems
    return RotatedArchive(home, settings_a, settings_b, first, second)


@pytest.fixture
def ops_copy(tmp_path: Path):
    """A copy of an archive home (tests that damage storage never touch the shared one)."""
    def copy(home: Path) -> Path:
        return Path(shutil.copytree(home, tmp_path / "home", symlinks=True))
    return copy


ARCHIVIST, AUDITOR = "archivist:lin", "auditor:zhou"
UNSCANNED_ITEMS = ("GD-4-2",)  # these archives have no ClamAV database: every scan is "not performed"


def ops_people(settings: Settings) -> tuple[str, str]:
    """An archivist and an auditor in the catalog: the named people who decide."""
    from archive.catalog import session
    from archive.catalog.models import Principal

    with session(settings.catalog_url) as s:
        for pid, kind, name in ((ARCHIVIST, "archivist", "林档案"), (AUDITOR, "auditor", "周审计")):
            if s.get(Principal, pid) is None:
                s.add(Principal(id=pid, kind=kind, name=name, roles=[kind]))
        s.commit()
    return ARCHIVIST, AUDITOR


def ops_ready_for_archiving(settings: Settings, aip_id: str, archivist: str | None = None) -> tuple[str, ...]:
    """What an archivist does before 归档: sign the log head, sign off GD's manual items for the head
    version. Returns the failed items that only lack a tool's evidence (to accept, with a reason)."""
    from archive.auditlog import sign_head
    from archive.catalog import session
    from archive.check4 import manual_codes
    from archive.check4_signoff import sign_off
    from archive.records import ocfl_id_for
    from archive.storage import OcflStore
    from flows._runtime import open_signer
    from flows.archive_case import check4_for

    archivist = archivist or ops_people(settings)[0]
    sign_head(settings.log_dir, open_signer(settings), catalog_url=settings.catalog_url)
    head = OcflStore(settings.storage_root).head(ocfl_id_for(aip_id))
    with session(settings.catalog_url) as s:
        for code in manual_codes("GD"):
            sign_off(s, code=code, subject=f"v{head}", by=archivist, decision="pass", note="checked against the paper file",
                     aip_id=aip_id)
        s.commit()
    report = check4_for(settings, aip_id, "GD")
    return tuple(c for c in report.failed if c in UNSCANNED_ITEMS)
