"""Stage ``add_archiving_record``: turn a checked-out head bag into the 归档 version.

The 归档 version differs from the ingested head only in metadata, so it is not rebuilt from
a submission: in the checked-out copy (the job's work folder) it

    case.json        gets the 档号, the 归档日期 and the new version number
    check4-GD.json   is added: the GD 四性检测 report of the head version it was run on
    premis.xml       gets the two new objects and two events (档号 assignment, GD check)
    METS.xml         is regenerated from case.json (the dmdSec now carries the 档号)
    bag manifests    are rewritten; unchanged payload keeps the digests the head recorded
                     (the OCFL commit re-reads every file against them), new files are hashed

and leaves signing and the OCFL commit to the caller. Nothing in the documents changes, so
the payload digests of originals, PDF/A and texts stay what the ingest recorded. The
rewriting itself is ``archive.amend.amend_bag``, shared with an archivist's approved changes.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from archive import premis
from archive.amend import amend_bag
from archive.package import METADATA, CaseRecord, StoredFile, read_case_record

CHECK4_GD = f"{METADATA}/check4-GD.json"


def _events(record: CaseRecord, case_json: StoredFile, report: StoredFile, passed: bool,
            summary: str, archivist: str, when: datetime, software: str) -> list[premis.Event]:
    agents = ((premis.person_id(archivist), "implementer"), (premis.software_id(software), "executing program"))
    return [e.identified() for e in (
        premis.Event("metadata modification", when.isoformat(),
                     f"档号 {record.archival_code} assigned; case archived (归档) on {record.archived_on}",
                     "success", agents=agents, objects=((premis.object_id(case_json), "outcome"),)),
        premis.Event("validation", when.isoformat(), "四性检测 (DA/T 70-2018) at 归档 (GD)",
                     "pass" if passed else "fail", summary, agents=agents,
                     objects=((premis.object_id(report), "outcome"),)),
    )]


def add_archiving_record(bag_dir: Path, *, archival_code: str, version: int, report_json: bytes,
                         passed: bool, summary: str, archivist: str, when: datetime,
                         software: str = "juanzong") -> CaseRecord:
    """Rewrite the checked-out bag ``bag_dir`` in place as the 归档 version (unsigned)."""
    old = read_case_record(bag_dir)
    record = old.model_copy(update={"archival_code": archival_code, "aip_version": version,
                                    "archived_on": when.date()})

    def events_for(case_json: StoredFile, added: list[StoredFile]) -> list[premis.Event]:
        return _events(record, case_json, added[0], passed, summary, archivist, when, software)

    return amend_bag(bag_dir, record, added=[(CHECK4_GD, report_json)], events_for=events_for,
                     archivist=archivist, when=when, software=software)
