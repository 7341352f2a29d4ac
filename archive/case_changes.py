"""Changes only an archivist may make, and how a batch's wish for one is held.

A later batch may bring new documents and new scans of archived ones. It may not move a
document between 正卷 and 副卷, change whether it is disclosed, change the parties (who may
read the case) or add to a case another station owns: ``archive.package`` keeps the archived
values whatever the batch says, and the ingest flow refuses another station's case (E158).
What a batch asks for of these is a ``ProposedChange``, held in the catalog (``CaseChange``)
until an archivist approves it (``apply_change`` then makes a metadata-only AIP version,
with a PREMIS event naming the archivist) or refuses it. A 副卷 document is never made
disclosable, whoever asks (E161).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from archive import premis
from archive.package import CaseRecord, DocumentRecord, StoredFile, volume_order
from archive.records import AIP_NAMESPACE
from ingest.manifest import BatchManifest, CaseMeta, FileEntry, Party
from schemas.errors import InputRejected, Problem

Kind = Literal["owner", "volume", "disclosable", "parties"]
PRIMARY, SECONDARY = "正卷", "副卷"


class ProposedChange(BaseModel):
    """One protected value a batch asks to change: ``old`` as archived, ``new`` as asked."""

    model_config = ConfigDict(frozen=True)

    case_number: str
    kind: Kind
    document_path: str = ""
    old: Any
    new: Any
    batch_id: str
    station_id: str

    @property
    def change_id(self) -> str:
        """The same wish of the same batch is one change, however often the batch is run."""
        return str(uuid.uuid5(AIP_NAMESPACE, f"change:{self.case_number}:{self.kind}:"
                                             f"{self.document_path}:{self.batch_id}"))

    def problem(self, files: list[str]) -> list[Problem]:
        """What the station is told: E158 (fatal) on every file of a case it does not own,
        E159 (reported; the archived value stays) for any other held change."""
        if self.kind == "owner":
            return [Problem.of("E158", path, expected=self.old, found=self.case_number, change=self.change_id)
                    for path in files]
        return [Problem.of("E159", self.document_path or "manifest.json", fatal=False, field=self.kind,
                           expected=_shown(self.old), found=_shown(self.new), change=self.change_id)]


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)[:300]


def party_list(case: CaseMeta) -> list[dict]:
    return [p.model_dump(exclude_none=True) for p in case.parties]


def _document_changes(base: CaseRecord, entry: FileEntry, proposed: dict) -> list[ProposedChange]:
    old = next((d for d in base.documents if d.entry.path == entry.path), None)
    if old is None:
        return []
    asked, changes = entry.document, []
    if asked.volume != old.entry.document.volume:
        changes.append(ProposedChange(kind="volume", document_path=entry.path, old=old.entry.document.volume,
                                      new=asked.volume, **proposed))
    a_secondary_made_disclosable = asked.disclosable and asked.volume == SECONDARY  # E124 already says so
    if asked.disclosable != old.disclosable and not a_secondary_made_disclosable:
        changes.append(ProposedChange(kind="disclosable", document_path=entry.path, old=old.disclosable,
                                      new=asked.disclosable, **proposed))
    return changes


def proposed_changes(base: CaseRecord | None, manifest: BatchManifest, case: CaseMeta) -> list[ProposedChange]:
    """What ``manifest`` asks to change of the archived case ``base`` that only an archivist may:
    the owner alone when the batch is another station's (nothing of it is taken), else every
    volume, disclosure and the parties that differ."""
    if base is None:
        return []
    proposed = {"case_number": case.case_number, "batch_id": manifest.batch_id, "station_id": manifest.station_id}
    if base.owner() != manifest.station_id:
        return [ProposedChange(kind="owner", old=base.owner(), new=manifest.station_id, **proposed)]
    changes = [c for f in manifest.files_of(case.case_number) for c in _document_changes(base, f, proposed)]
    if party_list(case) != party_list(base.case):
        changes.append(ProposedChange(kind="parties", old=party_list(base.case), new=party_list(case), **proposed))
    return changes


def _changed_document(doc: DocumentRecord, kind: str, new: Any, version: int) -> DocumentRecord:
    volume = new if kind == "volume" else doc.entry.document.volume
    disclosable = (new if kind == "disclosable" else doc.disclosable) and volume == PRIMARY
    if kind == "disclosable" and new and volume == SECONDARY:
        raise InputRejected("E161", doc.entry.path)
    document = doc.entry.document.model_copy(update={"volume": volume, "disclosable": disclosable})
    return doc.model_copy(update={"entry": doc.entry.model_copy(update={"document": document}),
                                  "disclosable": disclosable, "version_updated": version})


def apply_change(record: CaseRecord, kind: str, document_path: str, new: Any, version: int) -> CaseRecord:
    """``record`` as version ``version`` with the approved change made (E161: a 副卷 document
    is never made disclosable; E160: the document is no longer in the case)."""
    update: dict[str, Any] = {"aip_version": version}
    if kind == "owner":
        update["owner_station"] = str(new)
    elif kind == "parties":
        update["case"] = record.case.model_copy(update={"parties": [Party.model_validate(p) for p in new]})
    else:
        if document_path not in {d.entry.path for d in record.documents}:
            raise InputRejected("E160", document_path)
        docs = [_changed_document(d, kind, new, version) if d.entry.path == document_path else d
                for d in record.documents]
        update["documents"] = tuple(sorted(docs, key=volume_order))
    return record.model_copy(update=update)


def change_event(change_id: str, kind: str, document_path: str, old: Any, new: Any, archivist: str,
                 when: datetime, case_json: StoredFile, software: str) -> premis.Event:
    """The PREMIS event of an approved change, naming the archivist who approved it."""
    what = f"{kind} of {document_path}" if document_path else kind
    agents = ((premis.person_id(archivist), "implementer"), (premis.software_id(software), "executing program"))
    return premis.Event("metadata modification", when.isoformat(),
                        f"{what}: {_shown(old)} -> {_shown(new)}; approved by archivist {archivist} "
                        f"(change {change_id})", "success", agents=agents,
                        objects=((premis.object_id(case_json), "outcome"),)).identified()
