"""Renew archive timestamps before they lapse (RFC 4998 evidence records), one AIP at a time.

    for each AIP: due_versions (TSA certificate ends within the margin, algorithm retired, no
    trusted time) -> checkout head -> renewed_record per due version (the TSA) -> add_evidence
    -> sign (CAdES-T) -> commit (OCFL, rebuilt on a moved head) -> verify -> record version, events

Run it on a schedule (``juanzong deploy`` makes the deployment) or by hand:
``juanzong evidence renew``. ``now`` can be given to ask what is due at a later date.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel
from sqlmodel import select

from archive.bag import payload_digest
from archive.catalog import session
from archive.catalog.models import Aip
from archive.catalog.record import record_event, record_evidence_version
from archive.records import ocfl_id_for
from archive.renewal import Due, add_evidence, due_versions, renewed_record
from archive.signing import sign_bag
from archive.storage import StaleHead
from archive.verify import verify_object
from config import Settings
from flows._runtime import fingerprint, open_signer, open_store, trusted_certificates, tsa_of
from flows._work import work_folder
from schemas.errors import ConfigurationError, VerificationFailed

SOFTWARE = "juanzong"
COMMIT_ATTEMPTS = 3


class Renewed(BaseModel):
    aip_id: str
    version: int
    renewed: dict[int, str]  # protected version -> reason


class RenewalOutcome(BaseModel):
    checked: int
    renewed: list[Renewed] = []


@task(cache_policy=NO_CACHE)
def renew_aip(settings: Settings, aip_id: str, now: dt.datetime) -> Renewed | None:
    store = open_store(settings)
    ocfl_id = ocfl_id_for(aip_id)
    tsa = tsa_of(settings)
    if tsa is None:
        raise ConfigurationError("E473", aip_id)
    signer = open_signer(settings)
    retired = list(settings.retired_digest_algorithms)
    margin = dt.timedelta(days=settings.timestamp_renewal_days)
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        due = due_versions(store, ocfl_id, now=now, margin=margin, retired=retired)
        if not due:
            return None
        base = store.head(ocfl_id)
        with work_folder(settings.work_root, f"renew-{aip_id}") as work:
            bag = store.checkout(ocfl_id, work / "bag", version=base)
            records = {d.version: renewed_record(store, ocfl_id, d, tsa, retired) for d in due}
            add_evidence(bag, records, _reasons(due), version=(base or 0) + 1, tsa=tsa.url, when=now)
            sign_bag(bag, signer)
            try:
                version = store.commit(ocfl_id, bag, message="archive timestamp renewal", expected_head=base,
                                       agent=signer.certificate().subject.rfc4514_string())
            except StaleHead:
                if attempt == COMMIT_ATTEMPTS:
                    raise
                continue
            _check_and_record(settings, aip_id, version, bag, fingerprint(signer.certificate()), due)
        return Renewed(aip_id=aip_id, version=version, renewed=_reasons(due))
    return None


def _reasons(due: list[Due]) -> dict[int, str]:
    return {d.version: d.reason for d in due}


def _check_and_record(settings: Settings, aip_id: str, version: int, bag: Path, cert: str, due: list[Due]) -> None:
    findings = verify_object(open_store(settings), ocfl_id_for(aip_id), trusted_certificates(settings))
    if findings:
        raise VerificationFailed("E402", findings[0].path, expected=findings[0].expected, found=findings[0].actual)
    tagmanifest = hashlib.sha256((bag / "tagmanifest-sha256.txt").read_bytes()).hexdigest()
    with session(settings.catalog_url) as s:
        record_evidence_version(s, aip_id, version, payload_digest=payload_digest(bag),
                                tagmanifest_sha256=tagmanifest, certificate=cert, message="archive timestamp renewal")
        for d in due:
            record_event(s, "digital signature generation", agent=SOFTWARE, aip_id=aip_id,
                         detail=f"archive timestamp for v{d.version} in v{version}: {d.reason}")
        s.commit()


@flow(name="renew-timestamps")
def renew_timestamps(settings: Settings, now: dt.datetime | None = None) -> RenewalOutcome:
    """Renew every AIP's evidence that is due at ``now`` (default: the clock)."""
    moment = now or dt.datetime.now(dt.timezone.utc)
    with session(settings.catalog_url) as s:
        aip_ids = [a.aip_id for a in s.exec(select(Aip)).all()]
    renewed = [r for aip_id in aip_ids if (r := renew_aip(settings, aip_id, moment)) is not None]
    return RenewalOutcome(checked=len(aip_ids), renewed=renewed)
