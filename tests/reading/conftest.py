"""Fixtures for the reading service: one archive home built by the real ingest flow on the
project's own sample batch (two cases, nine pages), with the access situation of issue 5:

- case A (the civil case) is in progress, case B (its enforcement) is archived;
- the sample plaintiff is a party of both; a lawyer is authorised for both, another is not;
- a third, catalog-only case C has a party who appears in neither A nor B;
- a reading-service principal and an archivist principal, each with an API key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import asn1crypto.tsp  # noqa: F401  before ingest signs an AIP; see flows/api_reading.py
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from archive.catalog import session
from archive.catalog.models import Case
from config.settings import Settings
from dissemination.access import Requester
from dissemination.requests import authorise_lawyer
from ingest.sample import CASE_NUMBER, SAMPLE_READER

CASE_C = "（2024）粤0106民初9999号"
PARTY = Requester(name=SAMPLE_READER["name"], id_number=SAMPLE_READER["id_number"], role="party")
LAWYER = Requester(name="林晓东", id_number="440104198001015678", role="lawyer",
                   licence_number="14401201910123456")
LAWYER_UNAUTHORISED = Requester(name="周建华", id_number="440105198202023456", role="lawyer",
                                licence_number="14401201910654321")
OTHER_PARTY = Requester(name="王小五", id_number="440111199001011234", role="party")
ARCHIVIST = Requester(name="档案员李", id_number="A-0001", role="archivist")


@dataclass(frozen=True)
class Home:
    settings: Settings
    in_progress: str
    archived: str
    service_key: str
    archivist_key: str
    archivist_id: str


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    """Ingest the sample batch once (about a minute of OCR) and set up the people."""
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    from archive.signing import ensure_dev_keys
    from api.reading import add_principal
    from flows.ingest_batch import ingest_batch
    from ingest.sample import write_sample_batch

    root = tmp_path_factory.mktemp("reading")
    settings = Settings(home=root / "home")
    ensure_dev_keys(settings.signing_key, settings.signing_cert, common_name="Juanzong test archive",
                    algorithm=settings.signature_algorithm)
    outcome = ingest_batch(write_sample_batch(root / "sample", seed=1), settings)
    assert outcome.status == "archived", outcome
    archived = next(a.case_number for a in outcome.aips if a.case_number != CASE_NUMBER)
    _set_up_cases(settings, archived)
    for case in (CASE_NUMBER, archived):
        authorise_lawyer(settings.catalog_url, case_number=case, lawyer_name=LAWYER.name,
                         licence_number=LAWYER.licence_number or "", party_name=PARTY.name)
    return Home(settings=settings, in_progress=CASE_NUMBER, archived=archived,
                service_key=add_principal(settings.catalog_url, "weifayuan", kind="service",
                                          roles=["reading-service"]),
                archivist_key=add_principal(settings.catalog_url, "li", kind="archivist",
                                            roles=["archivist"]),
                archivist_id="archivist:li")


def _set_up_cases(settings: Settings, archived: str) -> None:
    with session(settings.catalog_url) as s:
        a, b = s.get(Case, CASE_NUMBER), s.get(Case, archived)
        a.status, b.status = "in_progress", "archived"
        s.add(a)
        s.add(b)
        s.add(Case(case_number=CASE_C, court=a.court, court_code=a.court_code, case_type="民事",
                   procedure="一审", cause_of_action="买卖合同纠纷", status="in_progress",
                   parties=[{"role": "原告", "kind": "person", "name": OTHER_PARTY.name,
                             "id_number": OTHER_PARTY.id_number}]))
        s.commit()


@pytest.fixture(scope="session")
def client(home: Home) -> TestClient:
    from api.reading import reading_router

    app = FastAPI()
    app.include_router(reading_router(home.settings))
    with TestClient(app) as c:
        yield c


def body_for(who: Requester, case_number: str) -> dict:
    return {"case_number": case_number, "requester": who.model_dump()}


def headers_for(home: Home, who: Requester) -> dict[str, str]:
    """Archivists call with their own key; parties and lawyers come through the reading service."""
    return {"X-API-Key": home.archivist_key if who.role == "archivist" else home.service_key}


def pdf_texts(zip_path: Path, out: Path) -> dict[str, str]:
    """Every PDF of a DIP zip, unpacked, as pdftotext sees it."""
    import zipfile

    from ingest._exec import pdftotext

    texts = {}
    with zipfile.ZipFile(zip_path) as zf:
        for name in zf.namelist():
            if name.endswith(".pdf"):
                target = out / Path(name).name
                target.write_bytes(zf.read(name))
                texts[Path(name).name] = "\f".join(pdftotext.page_texts(target, timeout=60))
    return texts
