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
the payload digests of originals, PDF/A and texts stay what the ingest recorded.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from lxml import etree

from archive import mets, premis
from archive.bag import BAG_ALGORITHMS, FileDigests, hash_file, read_bag_info, read_manifest, write_bag
from archive.package import CASE_JSON, METADATA, METS_XML, PREMIS_XML, CaseRecord, StoredFile, read_case_record
from archive.signing import SIGNATURE_NAME

CHECK4_GD = f"{METADATA}/check4-GD.json"
_TAG_FILES = ("bagit.txt", "bag-info.txt", *(f"{kind}-{a}.txt" for kind in ("manifest", "tagmanifest")
                                              for a in BAG_ALGORITHMS), SIGNATURE_NAME)


def _stored(bag_dir: Path, rel: str, media_type: str, fmt: tuple[str, str]) -> tuple[StoredFile, FileDigests]:
    d = hash_file(bag_dir / rel)
    return StoredFile(path=rel, size=d.size, sha256=d.sha256, sha512=d.sha512, sm3=d.sm3,
                      media_type=media_type, format_name=fmt[0], format_version=fmt[1]), d


def _write(bag_dir: Path, rel: str, data: bytes, media_type: str,
           fmt: tuple[str, str]) -> tuple[StoredFile, FileDigests]:
    (bag_dir / rel).parent.mkdir(parents=True, exist_ok=True)
    (bag_dir / rel).write_bytes(data)
    return _stored(bag_dir, rel, media_type, fmt)


def _premis_update(old: bytes, record: CaseRecord, case_json: StoredFile, report: StoredFile,
                   events: list[premis.Event], archivist: str) -> bytes:
    """Old PREMIS with case.json's object replaced, the report's object added, the events appended."""
    parser = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)
    root = etree.fromstring(old, parser)
    P = premis.P
    scratch = etree.Element(P + "premis")
    for element in root.findall(P + "object"):
        if element.findtext(f"{P}storage/{P}contentLocation/{P}contentLocationValue") == CASE_JSON:
            root.remove(element)
    premis._object_element(scratch, case_json, "case.json", None, None, None)
    premis._object_element(scratch, report, "check4-GD.json", None, None, None)
    agent = premis.archivist_agent(archivist)
    known_agents = {premis._identifier(a, "agent") for a in root.findall(P + "agent")}
    for event in events:
        premis._event_element(scratch, event)
    if agent.id not in known_agents:
        premis._agent_element(scratch, agent)
    for tag in ("object", "event", "agent"):
        anchor = (root.findall(P + tag) or [None])[-1]
        for element in scratch.findall(P + tag):
            if anchor is None:
                _insert_before_first(root, element, ("event", "agent", "rights"), P)
            else:
                anchor.addnext(element)
            anchor = element
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _insert_before_first(root: etree._Element, element: etree._Element, tags: tuple[str, ...], P: str) -> None:
    for child in root:
        if child.tag in {P + t for t in tags}:
            child.addprevious(element)
            return
    root.append(element)


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


def _bag_payload(bag_dir: Path, changed: dict[str, FileDigests]) -> dict[str, FileDigests]:
    """Digests of every payload file: the head's manifests for unchanged ones, fresh for changed."""
    sha256 = read_manifest(bag_dir, "manifest-sha256.txt")
    sha512 = read_manifest(bag_dir, "manifest-sha512.txt")
    payload = {p: FileDigests(size=(bag_dir / p).stat().st_size, sha256=d, sha512=sha512[p], sm3="")
               for p, d in sha256.items() if p not in changed}
    return {**payload, **changed}


def add_archiving_record(bag_dir: Path, *, archival_code: str, version: int, report_json: bytes,
                         passed: bool, summary: str, archivist: str, when: datetime,
                         software: str = "juanzong") -> CaseRecord:
    """Rewrite the checked-out bag ``bag_dir`` in place as the 归档 version (unsigned)."""
    old = read_case_record(bag_dir)
    record = old.model_copy(update={"archival_code": archival_code, "aip_version": version,
                                    "archived_on": when.date()})
    changed: dict[str, FileDigests] = {}
    case_json, changed[CASE_JSON] = _write(bag_dir, CASE_JSON, record.model_dump_json(indent=2).encode("utf-8"),
                                           "application/json", ("JSON", ""))
    report, changed[CHECK4_GD] = _write(bag_dir, CHECK4_GD, report_json, "application/json", ("JSON", ""))
    events = _events(record, case_json, report, passed, summary, archivist, when, software)
    premis_xml, changed[PREMIS_XML] = _write(
        bag_dir, PREMIS_XML, _premis_update((bag_dir / PREMIS_XML).read_bytes(), record, case_json, report,
                                            events, archivist), "application/xml", ("PREMIS", "3.0"))
    metadata = [*(s.manifest for s in record.submissions), case_json, report, premis_xml]
    created = mets.created_date(bag_dir / METS_XML)
    _, changed[METS_XML] = _write(bag_dir, METS_XML, mets.mets_document(record, metadata, software=software,
                                                                         agent=archivist, created=created,
                                                                         modified=when.isoformat()),
                                  "application/xml", ("METS", "1.12"))
    info = [(k, v) for k, values in read_bag_info(bag_dir).items() for v in values
            if k not in ("Payload-Oxum", "Bagging-Date")]
    payload = _bag_payload(bag_dir, changed)
    for name in _TAG_FILES:
        (bag_dir / name).unlink(missing_ok=True)
    write_bag(bag_dir, payload, [*info, ("Bagging-Date", when.date().isoformat())])
    return record
