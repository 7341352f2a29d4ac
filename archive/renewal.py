"""Stages of archival-timestamp renewal: which versions are due, and the version that renews them.

``due_versions`` looks at the newest timestamp protecting each version of an AIP: its evidence
record's last archive timestamp (``archive.evidence``), else its signature timestamp (CAdES-T).
A version is due when that timestamp's TSA certificate ends within the margin, when its hash
algorithm is retired in settings, or when it has no trusted time at all. ``add_evidence``
rewrites a checked-out head as the renewal version: ``data/evidence/vNNNN.ers`` per renewed
version, one PREMIS event each, case.json's version number, METS and the bag manifests;
signing and the OCFL commit are the caller's (``flows.renew_timestamps``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from archive import premis
from archive.amend import amend_bag
from archive.evidence import STRONGER, evidence_path, last_timestamp, new_record, renew_hashtree, renew_timestamp
from archive.package import StoredFile, read_case_record
from archive.signing import SIGNATURE_NAME, SIGNED_FILE
from archive.storage import Store
from archive.trusted_time import TimestampAuthority, signature_timestamp, token_certificate, token_info


class Due(BaseModel):
    """One version whose evidence must be renewed, and why."""

    model_config = ConfigDict(frozen=True)

    version: int
    reason: str
    hashtree: bool = False  # an algorithm is retired: a new chain with a stronger hash


def due_versions(store: Store, ocfl_id: str, *, now: dt.datetime, margin: dt.timedelta,
                 retired: list[str]) -> list[Due]:
    head = store.head(ocfl_id)
    if head is None:
        return []
    held = store.files(ocfl_id, head)
    due = []
    for version in range(1, head + 1):
        ers = held.get(evidence_path(version))
        if ers is not None:
            token, algorithm = last_timestamp(ers.path.read_bytes())
        else:
            token = signature_timestamp(store.path(ocfl_id, SIGNATURE_NAME, version).read_bytes())
            algorithm = token_info(token)["message_imprint"]["hash_algorithm"]["algorithm"].native if token else ""
        reason = _reason(token, algorithm, now, margin, retired)
        if reason:
            due.append(Due(version=version, reason=reason, hashtree=algorithm in retired))
    return due


def _reason(token, algorithm: str, now: dt.datetime, margin: dt.timedelta, retired: list[str]) -> str:
    if token is None:
        return "no trusted time"
    if algorithm in retired:
        return f"hash algorithm {algorithm} retired"
    cert = token_certificate(token)
    if cert is None or cert.not_valid_after_utc - now <= margin:
        ends = cert.not_valid_after_utc.date() if cert is not None else "?"
        return f"TSA certificate {'ends ' + str(ends) if cert else 'missing'}"
    return ""


def renewed_record(store: Store, ocfl_id: str, due: Due, tsa: TimestampAuthority, retired: list[str]) -> bytes:
    """The version's evidence record with one more archive timestamp (a new record the first time)."""
    head_files = store.files(ocfl_id)
    data = [store.path(ocfl_id, name, due.version).read_bytes() for name in (SIGNED_FILE, SIGNATURE_NAME)]
    ers = head_files.get(evidence_path(due.version))
    algorithm = next(a for a in STRONGER if a not in retired)
    if ers is None:
        return new_record(data, tsa, algorithm)
    if due.hashtree:
        return renew_hashtree(ers.path.read_bytes(), data, tsa, algorithm)
    return renew_timestamp(ers.path.read_bytes(), tsa)


def add_evidence(bag_dir: Path, records: dict[int, bytes], reasons: dict[int, str], *, version: int, tsa: str,
                 when: dt.datetime, software: str = "juanzong") -> None:
    """Rewrite the checked-out head ``bag_dir`` in place as the renewal version (unsigned):
    ``data/evidence/vNNNN.ers`` per renewed version and one PREMIS event each."""
    record = read_case_record(bag_dir).model_copy(update={"aip_version": version})
    renewed = sorted(records)

    def events_for(_case_json: StoredFile, added: list[StoredFile]) -> list[premis.Event]:
        agents = ((f"software:{software}", "executing program"),)
        return [premis.Event("digital signature generation", when.isoformat(),
                             f"archive timestamp (RFC 4998 evidence record) for v{v} from {tsa}: {reasons[v]}",
                             "success", agents=agents, objects=((premis.object_id(stored), "outcome"),)).identified()
                for v, stored in zip(renewed, added, strict=True)]

    amend_bag(bag_dir, record, added=[(evidence_path(v), records[v]) for v in renewed], events_for=events_for,
              archivist=software, when=when, software=software)
