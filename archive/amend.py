"""Stage ``amend_bag``: rewrite a checked-out head bag in place as a metadata-only version.

A version that changes what the archive says about a case, not its documents, is not rebuilt
from a submission: 归档 (the 档号 and the GD report, ``archive.archiving``) and an archivist's
approved change of a document's volume or disclosure, the parties or the owning station
(``archive.case_changes``). In the checked-out copy (the job's work folder) it writes

    case.json        the new record
    added files      e.g. a 四性检测 report
    premis.xml       case.json's object replaced, the added files' objects added, the events and
                     the archivist appended, the rights statements regenerated from the record
    METS.xml         regenerated from the record, keeping CREATEDATE and with LASTMODDATE ``when``
    bag manifests    rewritten; unchanged payload keeps the digests the head recorded (the OCFL
                     commit re-reads every file against them), changed files are hashed

and leaves signing and the OCFL commit to the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path, PurePosixPath

from lxml import etree

from archive import mets, premis
from archive.bag import BAG_ALGORITHMS, FileDigests, hash_file, read_bag_info, read_manifest, write_bag
from archive.package import CASE_JSON, METS_XML, PREMIS_XML, CaseRecord, StoredFile, identify_formats
from archive.signing import SIGNATURE_NAME

EventsFor = Callable[[StoredFile, list[StoredFile]], list[premis.Event]]
_TAG_FILES = ("bagit.txt", "bag-info.txt", *(f"{kind}-{a}.txt" for kind in ("manifest", "tagmanifest")
                                              for a in BAG_ALGORITHMS), SIGNATURE_NAME)


def _stored(bag_dir: Path, rel: str, media_type: str, fmt: tuple[str, str]) -> tuple[StoredFile, FileDigests]:
    """The file's record with its digests and its PRONOM key (siegfried)."""
    d = hash_file(bag_dir / rel)
    puid = identify_formats([bag_dir / rel])[(bag_dir / rel).absolute()][0]
    return StoredFile(path=rel, size=d.size, sha256=d.sha256, sha512=d.sha512, sm3=d.sm3, media_type=media_type,
                      format_name=fmt[0], format_version=fmt[1], puid=puid), d


def _write(bag_dir: Path, rel: str, data: bytes, media_type: str,
           fmt: tuple[str, str]) -> tuple[StoredFile, FileDigests]:
    (bag_dir / rel).parent.mkdir(parents=True, exist_ok=True)
    (bag_dir / rel).write_bytes(data)
    return _stored(bag_dir, rel, media_type, fmt)


def _insert_before_first(root: etree._Element, element: etree._Element, tags: tuple[str, ...]) -> None:
    for child in root:
        if child.tag in {premis.P + t for t in tags}:
            child.addprevious(element)
            return
    root.append(element)


def _premis_update(old: bytes, record: CaseRecord, case_json: StoredFile, added: list[StoredFile],
                   events: list[premis.Event], archivist: str) -> bytes:
    """Old PREMIS with case.json's object replaced, the added objects and the events appended
    after their kind, the archivist added once, and the rights statements made from ``record``."""
    parser = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)
    root = etree.fromstring(old, parser)
    P = premis.P
    scratch = etree.Element(P + "premis")
    replaced = {CASE_JSON, *(stored.path for stored in added)}
    for element in root.findall(P + "object"):
        if element.findtext(f"{P}storage/{P}contentLocation/{P}contentLocationValue") in replaced:
            root.remove(element)
    for element in root.findall(P + "rights"):
        root.remove(element)
    for stored in (case_json, *added):
        premis._object_element(scratch, stored, PurePosixPath(stored.path).name, None, None, None)
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
                _insert_before_first(root, element, ("event", "agent", "rights"))
            else:
                anchor.addnext(element)
            anchor = element
    for doc in record.documents:
        premis._rights_element(root, doc)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _bag_payload(bag_dir: Path, changed: dict[str, FileDigests]) -> dict[str, FileDigests]:
    """Digests of every payload file: the head's manifests for unchanged ones, fresh for changed."""
    sha256 = read_manifest(bag_dir, "manifest-sha256.txt")
    sha512 = read_manifest(bag_dir, "manifest-sha512.txt")
    payload = {p: FileDigests(size=(bag_dir / p).stat().st_size, sha256=d, sha512=sha512[p], sm3="")
               for p, d in sha256.items() if p not in changed}
    return {**payload, **changed}


def amend_bag(bag_dir: Path, record: CaseRecord, *, added: list[tuple[str, bytes]], events_for: EventsFor,
              archivist: str, when: datetime, software: str = "juanzong") -> CaseRecord:
    """Rewrite the checked-out bag ``bag_dir`` in place with ``record`` and the ``added`` files
    (bag path, bytes: JSON, or ``.ers`` evidence records); ``events_for(case_json, added)`` gives
    the PREMIS events (unsigned)."""
    changed: dict[str, FileDigests] = {}
    case_json, changed[CASE_JSON] = _write(bag_dir, CASE_JSON, record.model_dump_json(indent=2).encode("utf-8"),
                                           "application/json", ("JSON", ""))
    stored = []
    for rel, data in added:
        kind = ("application/vnd.ietf.ers", ("RFC 4998 evidence record", "1")) if rel.endswith(".ers") \
            else ("application/json", ("JSON", ""))
        file, changed[rel] = _write(bag_dir, rel, data, *kind)
        stored.append(file)
    events = events_for(case_json, stored)
    premis_xml, changed[PREMIS_XML] = _write(
        bag_dir, PREMIS_XML, _premis_update((bag_dir / PREMIS_XML).read_bytes(), record, case_json, stored,
                                            events, archivist), "application/xml", ("PREMIS", "3.0"))
    metadata = [*(f for s in record.submissions for f in s.files()), case_json, *stored, premis_xml]
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
