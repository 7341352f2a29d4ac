"""Fixtures for the dissemination tests: one generated corpus case, a dev key pair, a spec."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from dissemination import trace
from dissemination.dip import DipDocument
from dissemination.seal import ensure_dissemination_keys
from dissemination.watermark import WatermarkSpec, mask_id

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
MAKE_CORPUS = SHARED / "corpus" / "make_corpus.py"
READER = "叶英霞"
READER_ID = "440103197912222756"
REQUEST_ID = "REQ-20240501-0001"
ISSUED_AT = datetime(2024, 5, 1, 9, 30, tzinfo=timezone(timedelta(hours=8)))


@pytest.fixture(scope="session")
def corpus_batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One generated case (6 documents, one of them 副卷), made once per session."""
    if not MAKE_CORPUS.is_file():
        pytest.skip(f"{MAKE_CORPUS} not found: the shared corpus generator sits beside the repository")
    out = tmp_path_factory.mktemp("corpus") / "out"
    subprocess.run([sys.executable, str(MAKE_CORPUS), str(out), "--cases", "1", "--seed", "1", "--jobs", "2"],
                   check=True, capture_output=True)
    return next(p for p in out.iterdir() if (p / "manifest.json").is_file())


@pytest.fixture(scope="session")
def corpus_documents(corpus_batch: Path) -> list[DipDocument]:
    manifest = json.loads((corpus_batch / "manifest.json").read_text(encoding="utf-8"))
    return [DipDocument(document_id=f"doc-{f['document']['seq']}", title=f["document"]["title"],
                        source_pdf=corpus_batch / f["path"], seq=f["document"]["seq"],
                        volume=f["document"]["volume"], disclosable=f["document"]["disclosable"])
            for f in manifest["files"]]


@pytest.fixture(scope="session")
def case_number(corpus_batch: Path) -> str:
    return json.loads((corpus_batch / "manifest.json").read_text(encoding="utf-8"))["cases"][0]["case_number"]


@pytest.fixture(scope="session")
def spec(case_number: str) -> WatermarkSpec:
    return WatermarkSpec(reader_name=READER, reader_id_masked=mask_id(READER_ID), case_number=case_number,
                         request_id=REQUEST_ID, issued_at=ISSUED_AT,
                         trace_id=trace.trace_id_for(REQUEST_ID, ISSUED_AT))


@pytest.fixture(scope="session")
def dev_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    keys = tmp_path_factory.mktemp("keys")
    return ensure_dissemination_keys(keys / "dissemination.key", keys / "dissemination.pem",
                                     "广州市花都区人民法院电子阅卷")
