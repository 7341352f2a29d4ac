"""移交 archived cases to the state archive as one transfer package.

    catalog (archived cases, 档号) -> each case's stored head read in place -> EEPs signed by the
    archive -> 目录文件, signed 说明文件 -> the package folder -> a ``transfer`` event per case

Only archived cases (归档 done, 档号 in the AIP) are transferred. The archive keeps its AIPs: a
transfer hands over copies, and ``show``/``export`` go on working.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from archive.catalog import session
from archive.catalog.models import Case
from archive.catalog.record import record_event
from archive.package import CASE_JSON, CaseRecord
from archive.records import ocfl_id_for
from archive.transfer import CaseToTransfer, write_transfer_package
from config import Settings
from flows._runtime import open_signer, open_store
from schemas.errors import InputRejected, NotFound

SOFTWARE = "juanzong"
DEFAULT_RECEIVER = "国家综合档案馆"


class TransferOutcome(BaseModel):
    path: str
    cases: list[dict[str, str]]  # case_number, archival_code, eep


@task(cache_policy=NO_CACHE)
def gather_cases(settings: Settings, case_numbers: list[str]) -> list[CaseToTransfer]:
    store = open_store(settings)
    cases = []
    with session(settings.catalog_url) as s:
        rows = {n: s.get(Case, n) for n in case_numbers}
    for number, row in rows.items():
        if row is None:
            raise NotFound("E503", number)
        if row.status != "archived" or not row.aip_id:
            raise InputRejected("E720", number, reason=f"status {row.status}: only archived (归档) cases are transferred")
        files = {p: r.path for p, r in store.files(ocfl_id_for(row.aip_id)).items()}
        record = CaseRecord.model_validate_json(files[CASE_JSON].read_bytes())
        if not record.archival_code:
            raise InputRejected("E720", number, reason="the AIP's head has no 档号")
        cases.append(CaseToTransfer(archival_code=record.archival_code, files=files, record=record))
    return cases


@flow(name="transfer-export")
def transfer_export(settings: Settings, case_numbers: list[str], out: Path, *, receiver: str = DEFAULT_RECEIVER,
                    by: str = SOFTWARE) -> TransferOutcome:
    cases = gather_cases(settings, case_numbers)
    sender = cases[0].record.submissions[0].archive if cases and cases[0].record.submissions else settings.fonds_code
    path = write_transfer_package(cases, out, fonds=settings.fonds_code, sender=sender, receiver=receiver,
                                  signer=open_signer(settings))
    with session(settings.catalog_url) as s:
        for c in cases:
            record_event(s, "transfer", agent=by, aip_id=c.record.aip_id, object_path=str(path),
                         detail=f"{c.record.case_number} ({c.archival_code}) to {receiver} in {path.name}")
        s.commit()
    return TransferOutcome(path=str(path), cases=[{"case_number": c.record.case_number, "archival_code": c.archival_code,
                                                   "eep": f"{c.archival_code}/{c.archival_code}.xml"} for c in cases])
