"""``premis.xml`` (PREMIS 3.0): file objects with SHA-256 and SM3 fixity, events, agents, rights.

Identifiers are UUIDv5 of content, never random: an object's id comes from its bag path and
SHA-256, an event's from everything it says. Rebuilding from the same inputs therefore gives
the same document, and a supplementary filing keeps the old events verbatim and appends only
events whose identifier is new.
"""

from __future__ import annotations

import json
import uuid
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from lxml import etree

from archive.records import AIP_NAMESPACE, CaseSubmission
from ingest._exec import siegfried
from ingest.manifest import MANIFEST_NAME
from ingest.records import PdfaValidation

if TYPE_CHECKING:
    from archive.package import CaseRecord, DocumentRecord, StoredFile

PREMIS_NS = "http://www.loc.gov/premis/v3"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = f"{PREMIS_NS} https://www.loc.gov/standards/premis/v3/premis-v3-0.xsd"
ID_TYPE = "UUID"
AGENT_ID_TYPE = "juanzong"
P = f"{{{PREMIS_NS}}}"


def object_id(stored: StoredFile) -> str:
    return str(uuid.uuid5(AIP_NAMESPACE, f"object:{stored.path}:{stored.sha256}"))


def rights_id(document_id: str) -> str:
    return f"disclosure:{document_id}"


@dataclass(frozen=True)
class Agent:
    id: str
    name: str
    type: str
    version: str = ""
    note: str = ""


@dataclass(frozen=True)
class Event:
    type: str
    time: str
    detail: str
    outcome: str
    outcome_detail: str = ""
    agents: tuple[tuple[str, str], ...] = ()  # (agent id, role)
    objects: tuple[tuple[str, str], ...] = ()  # (object id, role)
    id: str = field(default="", compare=False)

    def identified(self) -> Event:
        body = json.dumps([self.type, self.time, self.detail, self.outcome, self.outcome_detail,
                           sorted(self.agents), sorted(self.objects)], ensure_ascii=False)
        return Event(**{**self.__dict__, "id": str(uuid.uuid5(AIP_NAMESPACE, "event:" + body))})


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, P + tag, attrs)
    if text is not None:
        element.text = text
    return element


def _pair(parent: etree._Element, tag: str, prefix: str, id_type: str, value: str) -> etree._Element:
    element = _sub(parent, tag)
    _sub(element, f"{prefix}Type", id_type)
    _sub(element, f"{prefix}Value", value)
    return element


# ---- agents ---------------------------------------------------------------------------------

def station_agent(station_id: str) -> Agent:
    return Agent(f"station:{station_id}", station_id, "hardware", note="scanning station")


def operator_agent(operator_id: str, name: str) -> Agent:
    return Agent(f"operator:{operator_id}", name, "person", note=f"scanning operator {operator_id}")


@cache
def software_version(software: str) -> str:
    """The installed version of ``software`` (a distribution name), e.g. juanzong's own."""
    try:
        return version(software)
    except PackageNotFoundError:
        return "unknown"


def software_id(software: str) -> str:
    """One agent per software version: events of an older release keep naming that release."""
    return f"software:{software}-{software_version(software)}"


def software_agent(software: str) -> Agent:
    return Agent(software_id(software), software, "software", version=software_version(software),
                 note="archive packaging software")


def archive_agent(archive: str) -> Agent:
    return Agent(f"organization:{archive}", archive, "organization", note="archive (custodian)")


def person_id(principal: str) -> str:
    """``person:<principal id>`` of a catalog principal given as ``id`` or ``id (name)``."""
    return "person:" + principal.split(" (", 1)[0]


def archivist_agent(principal: str) -> Agent:
    """The archivist as the catalog knows them: principal id, and their name when given as ``id (name)``."""
    pid, _, name = principal.partition(" (")
    return Agent(person_id(principal), name.rstrip(")") or pid, "person", note=f"archivist, principal {pid}")


def engine_agent(engine: str, version: str) -> Agent:
    return Agent(f"software:{engine}-{version}", engine, "software", version=version, note="OCR engine")


def identifier_agent() -> Agent:
    """siegfried with its PRONOM signature release: ``siegfried 1.11.2, DROID_SignatureFile_V120``."""
    program, _, signatures = siegfried.version().partition(", ")
    name, _, version = program.partition(" ")
    return Agent(f"software:{name}-{version}", name, "software", version=f"{version} ({signatures})",
                 note="PRONOM format identification")


def validator_agent(validation: PdfaValidation) -> Agent:
    return Agent(f"software:{validation.validator}-{validation.version}", validation.validator, "software",
                 version=validation.version, note="PDF/A validator")


def _agents(record: CaseRecord, submission: CaseSubmission, software: str, agent: str) -> list[Agent]:
    agents: dict[str, Agent] = {}
    for s in record.submissions:
        for a in (station_agent(s.station_id), operator_agent(s.operator_id, s.operator_name),
                  archive_agent(s.archive)):
            agents.setdefault(a.id, a)
    for a in (software_agent(software), *([archivist_agent(agent)] if agent else [])):
        agents.setdefault(a.id, a)
    for d in record.documents:
        for a in (engine_agent(d.ocr.engine, d.ocr.engine_version),
                  *([validator_agent(d.ocr.validation)] if d.ocr.validation else [])):
            agents.setdefault(a.id, a)
    a = identifier_agent()
    agents.setdefault(a.id, a)
    for e in submission.events:
        if e.get("agent") and _submitted_agent(submission, str(e["agent"])) not in agents:
            agents.setdefault(f"agent:{e['agent']}", Agent(f"agent:{e['agent']}", str(e["agent"]),
                                                           str(e.get("agent_type") or "unspecified"),
                                                           version=str(e.get("agent_version") or "")))
    return list(agents.values())


def _submitted_agent(submission: CaseSubmission, name: str) -> str:
    """The agent id a station's event names: its operator or station when it is one of them."""
    manifest = submission.manifest
    known = {manifest.operator.id: f"operator:{manifest.operator.id}", manifest.operator.name: f"operator:{manifest.operator.id}",
             manifest.station_id: f"station:{manifest.station_id}"}
    return known.get(name, f"agent:{name}")


def _agent_element(parent: etree._Element, a: Agent) -> None:
    element = _sub(parent, "agent")
    _pair(element, "agentIdentifier", "agentIdentifier", AGENT_ID_TYPE, a.id)
    _sub(element, "agentName", a.name)
    _sub(element, "agentType", a.type)
    if a.version:
        _sub(element, "agentVersion", a.version)
    if a.note:
        _sub(element, "agentNote", a.note)


# ---- objects --------------------------------------------------------------------------------

def _document_files(doc: DocumentRecord) -> list[StoredFile]:
    return [doc.original, *([doc.pdfa] if doc.pdfa else []), *(t.file for t in doc.text)]


def _object_element(parent: etree._Element, stored: StoredFile, original_name: str,
                    source: StoredFile | None, ocr_event: str | None, rights: str | None) -> None:
    element = _sub(parent, "object", **{f"{{{XSI_NS}}}type": "premis:file"})
    _pair(element, "objectIdentifier", "objectIdentifier", ID_TYPE, object_id(stored))
    chars = _sub(element, "objectCharacteristics")
    _sub(chars, "compositionLevel", "0")
    for algorithm, digest in (("SHA-256", stored.sha256), ("SM3", stored.sm3)):
        fixity = _sub(chars, "fixity")
        _sub(fixity, "messageDigestAlgorithm", algorithm)
        _sub(fixity, "messageDigest", digest)
        _sub(fixity, "messageDigestOriginator", "juanzong")
    _sub(chars, "size", str(stored.size))
    fmt = _sub(chars, "format")
    designation = _sub(fmt, "formatDesignation")
    _sub(designation, "formatName", stored.format_name)
    if stored.format_version:
        _sub(designation, "formatVersion", stored.format_version)
    if stored.puid:
        registry = _sub(fmt, "formatRegistry")
        _sub(registry, "formatRegistryName", "PRONOM")
        _sub(registry, "formatRegistryKey", stored.puid)
        _sub(registry, "formatRegistryRole", "specification")
    _sub(element, "originalName", original_name)
    location = _sub(_sub(element, "storage"), "contentLocation")
    _sub(location, "contentLocationType", "bag path")
    _sub(location, "contentLocationValue", stored.path)
    if source is not None:
        rel = _sub(element, "relationship")
        _sub(rel, "relationshipType", "derivation")
        _sub(rel, "relationshipSubType", "has source")
        _pair(rel, "relatedObjectIdentifier", "relatedObjectIdentifier", ID_TYPE, object_id(source))
        if ocr_event:
            _pair(rel, "relatedEventIdentifier", "relatedEventIdentifier", ID_TYPE, ocr_event)
    if rights:
        _pair(element, "linkingRightsStatementIdentifier", "linkingRightsStatementIdentifier", "local", rights)


def _objects(root: etree._Element, record: CaseRecord, extra: Iterable[StoredFile],
             ocr_events: dict[str, str]) -> None:
    for doc in record.documents:
        rights = rights_id(doc.document_id)
        event = ocr_events.get(doc.document_id)
        _object_element(root, doc.original, doc.entry.path, None, None, rights)
        for stored in _document_files(doc)[1:]:
            _object_element(root, stored, stored.path.split("/", 2)[2], doc.original, event, rights)
    for stored in extra:
        _object_element(root, stored, stored.path.rsplit("/", 1)[-1], None, None, None)


# ---- events ---------------------------------------------------------------------------------

def _identification_event(doc: DocumentRecord) -> Event:
    """One event per document over all its files, each file's PRONOM key in the outcome."""
    agent = identifier_agent()
    files = _document_files(doc)
    keys = "; ".join(f"{f.path}: {f.puid or 'not identified'} ({f.format_name} {f.format_version})".replace(" )", ")")
                     for f in files)
    return Event("format identification", doc.ocr.started_at.isoformat(),
                 f"PRONOM identification by {agent.name} {agent.version}",
                 "success" if all(f.puid and f.puid != siegfried.UNKNOWN for f in files) else "failure", keys,
                 agents=((agent.id, "executing program"),),
                 objects=tuple((object_id(f), "source") for f in files))


def _scan_events(doc: DocumentRecord, submission: CaseSubmission, software: str) -> list[Event]:
    manifest = submission.manifest
    settings = manifest.scan_settings
    scanned = doc.entry.scanned_at or manifest.scan_started
    original = object_id(doc.original)
    return [
        Event("capture", scanned.isoformat(),
              f"scanned {doc.entry.page_count} pages at {settings.dpi} dpi as {settings.format} "
              f"({settings.color_mode}) in batch {manifest.batch_id}", "success",
              agents=((f"station:{manifest.station_id}", "executing program"),
                      (f"operator:{manifest.operator.id}", "implementer")),
              objects=((original, "outcome"),)),
        _identification_event(doc),
        Event("fixity check", doc.ocr.started_at.isoformat(),
              "SHA-256 of the archived copy compared with the station manifest", "pass",
              f"sha256 {doc.original.sha256} as in manifest; sm3 {doc.original.sm3}",
              agents=((software_id(software), "executing program"),), objects=((original, "source"),)),
    ]


def _page_summary(doc: DocumentRecord) -> str:
    scores = [p.confidence for p in doc.pages if p.confidence is not None]
    flagged = [f"{p.page}:{'+'.join(p.flags)}" for p in doc.pages if p.flags]
    mean = f"{sum(scores) / len(scores):.1f}" if scores else "n/a"
    return f"{len(doc.pages)} pages, mean confidence {mean}, flagged {', '.join(flagged) or 'none'}"


def _ocr_events(doc: DocumentRecord, software: str) -> list[Event]:
    ocr = doc.ocr
    engine = f"software:{ocr.engine}-{ocr.engine_version}"
    options = "; ".join(f"{k}={v}" for k, v in sorted(ocr.options.items()))
    outcomes = tuple((object_id(f), "outcome") for f in _document_files(doc)[1:])
    events = [Event(
        "OCR", ocr.started_at.isoformat(),
        f"{ocr.engine} {ocr.engine_version}, languages {ocr.languages}, options [{options}], "
        f"finished {ocr.finished_at.isoformat()}", ocr.status,
        ocr.error or _page_summary(doc),
        agents=((engine, "executing program"), (software_id(software), "implementer")),
        objects=((object_id(doc.original), "source"), *outcomes))]
    if doc.pdfa is not None:
        events.append(_validation_event(doc.pdfa, ocr.validation, ocr.finished_at, software))
    return events


def _validation_event(pdfa: StoredFile, validation: PdfaValidation | None, made: datetime,
                      software: str) -> Event:
    """veraPDF's verdict: outcome pass/fail, the profile and every failed rule in the detail.
    Without a verdict the record says so ("not performed"), never pass on the XMP claim."""
    target = ((object_id(pdfa), "source"),)
    if validation is None:
        return Event("validation", made.isoformat(), "PDF/A validation of the derivative", "not performed",
                     "no validator ran on this derivative",
                     agents=((software_id(software), "executing program"),), objects=target)
    agent = validator_agent(validation)
    found = "; ".join(validation.failed_rules) or validation.error
    return Event("validation", validation.checked_at.isoformat(),
                 f"PDF/A validation of the derivative by {validation.validator} {validation.version}",
                 "pass" if validation.compliant else "fail",
                 f"profile: {validation.profile or 'none'}" + (f"; failed: {found}" if found else ""),
                 agents=((agent.id, "executing program"),), objects=target)


def _submitted_events(record: CaseRecord, submission: CaseSubmission) -> list[Event]:
    """Events the ingest recorded before packaging (fixity, virus check), on the originals and
    on the batch's manifest (``manifest.json``)."""
    originals = {d.entry.path: object_id(d.original) for d in record.documents}
    originals[MANIFEST_NAME] = object_id(next(s.manifest for s in record.submissions
                                              if s.batch_id == submission.manifest.batch_id))
    events = []
    for e in submission.events:
        time = e.get("event_time")
        target = originals.get(str(e.get("object_path") or ""))
        events.append(Event(
            str(e["event_type"]), time.isoformat() if isinstance(time, datetime) else str(time or ""),
            str(e.get("detail") or ""), str(e.get("outcome") or ""),
            agents=((_submitted_agent(submission, str(e["agent"])), "executing program"),) if e.get("agent") else (),
            objects=((target, "source"),) if target else ()))
    return events


def _source_event(current, submission: CaseSubmission, software: str) -> Event:
    """Who vouches for the batch: the station's verified signature over its manifest, or nobody."""
    signed = current.signature is not None
    return Event("digital signature validation" if signed else "validation",
                 submission.manifest.scan_finished.isoformat(), current.source,
                 "success" if signed else "source not authenticated",
                 agents=((f"station:{current.station_id}", "implementer"), (software_id(software), "executing program")),
                 objects=tuple((object_id(f), "source") for f in current.files()))


def _ingestion_event(record: CaseRecord, submission: CaseSubmission, submitted: list[StoredFile],
                     software: str, agent: str) -> Event:
    agents = [(f"organization:{submission.manifest.archive}", "authorizer"),
              (software_id(software), "executing program"),
              (f"operator:{submission.manifest.operator.id}", "submitter")]
    if agent:
        agents.append((person_id(agent), "implementer"))
    return Event(
        "ingestion", record.ingested_at.isoformat(),
        f"batch {submission.manifest.batch_id} archived into AIP {record.aip_id} "
        f"version {record.aip_version} (case {record.case_number})", "success",
        agents=tuple(agents), objects=tuple((object_id(f), "outcome") for f in submitted))


def _event_element(parent: etree._Element, e: Event) -> None:
    element = _sub(parent, "event")
    _pair(element, "eventIdentifier", "eventIdentifier", ID_TYPE, e.id)
    _sub(element, "eventType", e.type)
    _sub(element, "eventDateTime", e.time)
    _sub(_sub(element, "eventDetailInformation"), "eventDetail", e.detail)
    outcome = _sub(element, "eventOutcomeInformation")
    _sub(outcome, "eventOutcome", e.outcome)
    if e.outcome_detail:
        _sub(_sub(outcome, "eventOutcomeDetail"), "eventOutcomeDetailNote", e.outcome_detail)
    for agent_id, role in e.agents:
        link = _pair(element, "linkingAgentIdentifier", "linkingAgentIdentifier", AGENT_ID_TYPE, agent_id)
        _sub(link, "linkingAgentRole", role)
    for obj_id, role in e.objects:
        link = _pair(element, "linkingObjectIdentifier", "linkingObjectIdentifier", ID_TYPE, obj_id)
        _sub(link, "linkingObjectRole", role)


def _new_events(record: CaseRecord, submission: CaseSubmission, case_json: StoredFile,
                software: str, agent: str) -> list[Event]:
    paths = {d.entry.path for d in submission.documents}
    docs = [d for d in record.documents if d.entry.path in paths]
    events: list[Event] = []
    for doc in docs:
        events += _scan_events(doc, submission, software) + _ocr_events(doc, software)
    events += _submitted_events(record, submission)
    current = next(s for s in record.submissions if s.batch_id == submission.manifest.batch_id)
    submitted = [f for d in docs for f in _document_files(d)] + [*current.files(), case_json]
    events.append(_ingestion_event(record, submission, submitted, software, agent))
    if current.source:
        events.append(_source_event(current, submission, software))
    return [e.identified() for e in events]


# ---- rights ---------------------------------------------------------------------------------

def _rights_element(parent: etree._Element, doc: DocumentRecord) -> None:
    statement = _sub(_sub(parent, "rights"), "rightsStatement")
    _pair(statement, "rightsStatementIdentifier", "rightsStatementIdentifier", "local",
          rights_id(doc.document_id))
    _sub(statement, "rightsBasis", "Other")
    other = _sub(statement, "otherRightsInformation")
    _sub(other, "otherRightsBasis", "Court file disclosure policy")
    volume = doc.entry.document.volume
    reason = ("副卷 materials are never disclosed" if volume == "副卷" else
              "正卷 document marked disclosable" if doc.disclosable else "正卷 document marked not disclosable")
    _sub(other, "otherRightsNote", f"{doc.entry.document.title} ({volume}): {reason}")
    granted = _sub(statement, "rightsGranted")
    _sub(granted, "act", "disseminate")  # LoC actionsGranted vocabulary
    _sub(granted, "restriction", "Allow" if doc.disclosable else "Disallow")
    for stored in _document_files(doc):
        _pair(statement, "linkingObjectIdentifier", "linkingObjectIdentifier", ID_TYPE, object_id(stored))


# ---- document -------------------------------------------------------------------------------

def _old_elements(old_premis: Path | None) -> tuple[list[etree._Element], list[etree._Element]]:
    if old_premis is None or not old_premis.is_file():
        return [], []
    parser = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)
    root = etree.parse(str(old_premis), parser).getroot()
    return root.findall(P + "event"), root.findall(P + "agent")


def _identifier(element: etree._Element, kind: str) -> str:
    return element.findtext(f"{P}{kind}Identifier/{P}{kind}IdentifierValue") or ""


def _old_ocr_sources(old_events: list[etree._Element]) -> dict[str, str]:
    """Source object id -> id of the latest earlier OCR event, for documents kept from the base."""
    sources: dict[str, str] = {}
    for event in old_events:
        if event.findtext(P + "eventType") != "OCR":
            continue
        for link in event.findall(P + "linkingObjectIdentifier"):
            if link.findtext(P + "linkingObjectRole") == "source":
                sources[link.findtext(P + "linkingObjectIdentifierValue") or ""] = _identifier(event, "event")
    return sources


def premis_document(record: CaseRecord, submission: CaseSubmission, case_json: StoredFile,
                    old_premis: Path | None, *, software: str, agent: str) -> bytes:
    """The PREMIS document over the union of documents, old events first, new ones appended."""
    old_events, old_agents = _old_elements(old_premis)
    new_events = _new_events(record, submission, case_json, software, agent)
    by_source = {**_old_ocr_sources(old_events),
                 **{o: e.id for e in new_events if e.type == "OCR" for o, role in e.objects if role == "source"}}
    ocr_events = {d.document_id: by_source[object_id(d.original)] for d in record.documents
                  if object_id(d.original) in by_source}
    root = etree.Element(P + "premis", {"version": "3.0", f"{{{XSI_NS}}}schemaLocation": SCHEMA_LOCATION},
                         nsmap={"premis": PREMIS_NS, "xsi": XSI_NS})
    _objects(root, record, [*(f for s in record.submissions for f in s.files()), case_json], ocr_events)
    seen = {_identifier(e, "event") for e in old_events}
    for element in old_events:
        root.append(element)
    for event in new_events:
        if event.id not in seen:
            seen.add(event.id)
            _event_element(root, event)
    agents = _agents(record, submission, software, agent)
    for a in agents:
        _agent_element(root, a)
    current = {a.id for a in agents}
    for element in old_agents:
        if _identifier(element, "agent") not in current:
            root.append(element)
    for doc in record.documents:
        _rights_element(root, doc)
    etree.cleanup_namespaces(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
