"""``METS.xml`` (METS 1.12): the case's structure and every payload file with its checksum.

dmdSecs wrap the court case file element set (``schemas/case-metadata-1.xsd``, documented in
``docs/case-metadata.md``: DA/T 46 core plus the case elements of 法〔2013〕283号), named by
``MDTYPE="OTHER" OTHERMDTYPE="case-metadata-1"``: one for the case (案号, 案由, 当事人, ...,
卷内目录) and one per document. PREMIS is referenced, not embedded, from the amdSec. The header
keeps the first version's CREATEDATE; a later version adds LASTMODDATE. The LOGICAL structMap reads case -> volume (正卷, 副卷) -> document in 卷内顺序 -> page;
each page points at the original, the PDF/A and that page's text. Hrefs are relative to
METS.xml itself (``data/metadata/``), so the bag can move.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from lxml import etree

from archive.premis import software_version
from ingest.manifest import CaseMeta

if TYPE_CHECKING:
    from archive.package import CaseRecord, DocumentRecord, StoredFile

METS_NS = "http://www.loc.gov/METS/"
XLINK_NS = "http://www.w3.org/1999/xlink"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
CASE_NS = "https://juanzong.example/ns/case/1"
SCHEMA_LOCATION = f"{METS_NS} http://www.loc.gov/standards/mets/version112/mets.xsd"
CASE_SCHEMA = "case-metadata-1.xsd"  # in schemas/: validates the dmdSec content
ELEMENT_SET = "case-metadata-1"  # OTHERMDTYPE of the dmdSecs
M = f"{{{METS_NS}}}"
J = f"{{{CASE_NS}}}"
METS_DIR = "data/metadata"
PREMIS_HREF = "premis.xml"
_IRI_SAFE = "-._~/!$&'()*+,;=:@"
VOLUMES = ("正卷", "副卷")


def href(bag_path: str) -> str:
    """IRI of a bag file relative to METS.xml: ASCII specials escaped, CJK kept readable."""
    rel = posixpath.relpath(bag_path, METS_DIR)
    return "".join(c if ord(c) > 127 or c.isalnum() or c in _IRI_SAFE else quote(c) for c in rel)


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, tag, {k: v for k, v in attrs.items() if v})
    if text is not None:
        element.text = text
    return element


# ---- header ---------------------------------------------------------------------------------

def created_date(mets_xml: Path) -> str | None:
    """CREATEDATE of an earlier version's METS.xml (None when there is none)."""
    if not mets_xml.is_file():
        return None
    header = etree.parse(str(mets_xml), etree.XMLParser(resolve_entities=False, no_network=True)).find(M + "metsHdr")
    return header.get("CREATEDATE") if header is not None else None


def _header(root: etree._Element, record: CaseRecord, software: str, agent: str, dates: tuple[str, str]) -> None:
    header = _sub(root, M + "metsHdr", CREATEDATE=dates[0], LASTMODDATE=dates[1] if dates[1] != dates[0] else "",
                  RECORDSTATUS="complete")
    agents: list[tuple[dict[str, str], str, str]] = []
    for s in record.submissions:
        agents += [({"ROLE": "CUSTODIAN", "TYPE": "ORGANIZATION"}, s.archive, "archive"),
                   ({"ROLE": "OTHER", "OTHERROLE": "SCANNING STATION", "TYPE": "OTHER", "OTHERTYPE": "HARDWARE"},
                    s.station_id, f"scanning station of batch {s.batch_id}"),
                   ({"ROLE": "OTHER", "OTHERROLE": "SCANNING OPERATOR", "TYPE": "INDIVIDUAL"},
                    s.operator_name, f"operator {s.operator_id}")]
    agents.append(({"ROLE": "CREATOR", "TYPE": "OTHER", "OTHERTYPE": "SOFTWARE"},
                   f"{software} {software_version(software)}", "packaging software"))
    if agent:
        agents.append(({"ROLE": "ARCHIVIST", "TYPE": "INDIVIDUAL"}, agent, "archivist (catalog principal)"))
    seen: set[tuple[str, str]] = set()
    for attrs, name, note in agents:
        if (attrs["ROLE"] + attrs.get("OTHERROLE", ""), name) in seen:
            continue
        seen.add((attrs["ROLE"] + attrs.get("OTHERROLE", ""), name))
        element = _sub(header, M + "agent", **attrs)
        _sub(element, M + "name", name)
        _sub(element, M + "note", note)
    _sub(header, M + "altRecordID", record.case_number, TYPE="案号")


# ---- descriptive metadata -------------------------------------------------------------------

def _xml_data(root: etree._Element, dmd_id: str, label: str) -> etree._Element:
    wrap = _sub(_sub(root, M + "dmdSec", ID=dmd_id), M + "mdWrap", MDTYPE="OTHER",
                OTHERMDTYPE=ELEMENT_SET, LABEL=label)
    return _sub(wrap, M + "xmlData")


def _parties(parent: etree._Element, case: CaseMeta) -> None:
    parties = _sub(parent, J + "parties")
    for p in case.parties:
        party = _sub(parties, J + "party", role=p.role, kind=p.kind)
        _sub(party, J + "name", p.name)
        for tag, value in (("idNumber", p.id_number), ("creditCode", p.credit_code),
                           ("address", p.addr), ("representative", p.rep)):
            if value:
                _sub(party, J + tag, value)


def _case_dmd(root: etree._Element, record: CaseRecord) -> None:
    case = record.case
    data = _sub(_xml_data(root, "dmd-case", "案件"), J + "case")
    _sub(data, J + "title", f"{case.case_number}{case.cause_of_action}一案")
    _sub(data, J + "caseNumber", case.case_number)
    if record.archival_code:
        _sub(data, J + "archivalCode", record.archival_code)
    _sub(data, J + "court", case.court, code=case.court_code)
    _sub(data, J + "caseType", case.case_type)
    _sub(data, J + "procedure", case.procedure)
    _sub(data, J + "causeOfAction", case.cause_of_action)
    _parties(data, case)
    panel = _sub(data, J + "panel")
    for member in case.panel:
        _sub(panel, J + "member", member)
    _sub(data, J + "judge", case.judge)
    _sub(data, J + "clerk", case.clerk)
    _sub(data, J + "filingDate", case.filing_date.isoformat())
    if case.closing_date:
        _sub(data, J + "closingDate", case.closing_date.isoformat())
    if case.effective_date:
        _sub(data, J + "effectiveDate", case.effective_date.isoformat())
    _sub(data, J + "archivingDate", record.archived_on.isoformat())
    _sub(data, J + "securityClass", case.security_class)
    _sub(data, J + "retentionPeriod", case.retention_period, legacy=case.retention_period_legacy or "")
    _sub(data, J + "language", "zh")
    _sub(data, J + "documentCount", str(len(record.documents)))
    _sub(data, J + "pageTotal", str(sum(d.entry.page_count for d in record.documents)))
    _contents(data, record)


def _contents(parent: etree._Element, record: CaseRecord) -> None:
    """卷内目录: the documents in 卷内顺序, as the paper file's table of contents lists them."""
    contents = _sub(parent, J + "contents")
    for doc in record.documents:
        meta = doc.entry.document
        entry = _sub(contents, J + "entry", volume=meta.volume, seq=str(meta.seq), document=doc.document_id)
        _sub(entry, J + "title", meta.title)
        if meta.author:
            _sub(entry, J + "author", meta.author)
        if meta.doc_date:
            _sub(entry, J + "docDate", meta.doc_date.isoformat())
        _sub(entry, J + "pageCount", str(doc.entry.page_count))


def _document_dmd(root: etree._Element, doc: DocumentRecord, dmd_id: str) -> None:
    meta = doc.entry.document
    data = _sub(_xml_data(root, dmd_id, meta.title), J + "document",
                id=doc.document_id)
    _sub(data, J + "title", meta.title)
    _sub(data, J + "docType", meta.doc_type)
    _sub(data, J + "volume", meta.volume)
    _sub(data, J + "seq", str(meta.seq))
    _sub(data, J + "disclosable", "true" if doc.disclosable else "false")
    if meta.doc_date:
        _sub(data, J + "docDate", meta.doc_date.isoformat())
    if meta.author:
        _sub(data, J + "author", meta.author)
    _sub(data, J + "pageCount", str(doc.entry.page_count))


def _amd(root: etree._Element, premis: StoredFile) -> None:
    amd = _sub(root, M + "amdSec", ID="amd-aip")
    for tag, element_id in (("techMD", "techmd-premis"), ("rightsMD", "rightsmd-premis"),
                            ("digiprovMD", "digiprov-premis")):
        _sub(_sub(amd, M + tag, ID=element_id), M + "mdRef", LOCTYPE="URL", MDTYPE="PREMIS",
             MIMETYPE="application/xml", SIZE=str(premis.size), CHECKSUM=premis.sha256,
             CHECKSUMTYPE="SHA-256", **{f"{{{XLINK_NS}}}href": PREMIS_HREF, f"{{{XLINK_NS}}}type": "simple"})


# ---- files and structure --------------------------------------------------------------------

def _file(group: etree._Element, file_id: str, stored: StoredFile, group_id: str = "",
          dmd_id: str = "") -> None:
    element = _sub(group, M + "file", ID=file_id, MIMETYPE=stored.media_type, SIZE=str(stored.size),
                   CHECKSUM=stored.sha256, CHECKSUMTYPE="SHA-256", GROUPID=group_id, DMDID=dmd_id,
                   ADMID="amd-aip")
    _sub(element, M + "FLocat", LOCTYPE="URL",
         **{f"{{{XLINK_NS}}}href": href(stored.path), f"{{{XLINK_NS}}}type": "simple"})


def _ids(index: int) -> dict[str, str]:
    n = f"{index:04d}"
    return {"dmd": f"dmd-doc-{n}", "group": f"doc-{n}", "original": f"f-orig-{n}", "pdfa": f"f-pdfa-{n}",
            "text": f"f-text-{n}-"}


def _file_sec(root: etree._Element, record: CaseRecord, metadata: Iterable[StoredFile]) -> None:
    sec = _sub(root, M + "fileSec")
    groups = {use: _sub(sec, M + "fileGrp", USE=use, ID=f"grp-{use.lower()}")
              for use in ("ORIGINAL", "PDFA", "TEXT", "METADATA")}
    for index, doc in enumerate(record.documents, 1):
        ids = _ids(index)
        _file(groups["ORIGINAL"], ids["original"], doc.original, ids["group"], ids["dmd"])
        if doc.pdfa:
            _file(groups["PDFA"], ids["pdfa"], doc.pdfa, ids["group"], ids["dmd"])
        for page in doc.text:
            _file(groups["TEXT"], f"{ids['text']}{page.page:04d}", page.file, ids["group"])
    for index, stored in enumerate(metadata, 1):
        _file(groups["METADATA"], f"f-meta-{index:04d}", stored)
    for use, group in groups.items():
        if len(group) == 0:
            sec.remove(group)


def _document_div(parent: etree._Element, doc: DocumentRecord, index: int) -> None:
    ids = _ids(index)
    meta = doc.entry.document
    div = _sub(parent, M + "div", TYPE="document", LABEL=meta.title, ORDER=str(meta.seq), DMDID=ids["dmd"])
    _sub(div, M + "fptr", FILEID=ids["original"])
    if doc.pdfa:
        _sub(div, M + "fptr", FILEID=ids["pdfa"])
    texts = {t.page for t in doc.text}
    for page in range(1, max([doc.entry.page_count, *texts]) + 1):
        page_div = _sub(div, M + "div", TYPE="page", ORDER=str(page), LABEL=f"第{page}页")
        _sub(page_div, M + "fptr", FILEID=ids["original"])
        if doc.pdfa:
            _sub(page_div, M + "fptr", FILEID=ids["pdfa"])
        if page in texts:
            _sub(page_div, M + "fptr", FILEID=f"{ids['text']}{page:04d}")


def _struct_map(root: etree._Element, record: CaseRecord) -> None:
    smap = _sub(root, M + "structMap", TYPE="LOGICAL", LABEL="卷宗")
    case_div = _sub(smap, M + "div", TYPE="case", LABEL=record.case_number, DMDID="dmd-case", ADMID="amd-aip")
    for order, volume in enumerate(VOLUMES, 1):
        docs = [(i, d) for i, d in enumerate(record.documents, 1) if d.entry.document.volume == volume]
        if docs:
            volume_div = _sub(case_div, M + "div", TYPE="volume", LABEL=volume, ORDER=str(order))
            for index, doc in docs:
                _document_div(volume_div, doc, index)


def mets_document(record: CaseRecord, metadata: list[StoredFile], *, software: str, agent: str,
                  created: str | None = None, modified: str | None = None) -> bytes:
    """METS over ``record``; ``metadata`` lists the metadata files, premis.xml last. ``created`` is the
    first version's CREATEDATE (default: this record's ingestion), ``modified`` this version's time."""
    root = etree.Element(M + "mets", {"OBJID": record.aip_id, "LABEL": f"卷宗 {record.case_number}",
                                      "TYPE": "卷宗", f"{{{XSI_NS}}}schemaLocation": SCHEMA_LOCATION},
                         nsmap={"mets": METS_NS, "xlink": XLINK_NS, "xsi": XSI_NS, "jz": CASE_NS})
    now = modified or record.ingested_at.isoformat()
    _header(root, record, software, agent, (created or now, now))
    _case_dmd(root, record)
    for index, doc in enumerate(record.documents, 1):
        _document_dmd(root, doc, _ids(index)["dmd"])
    _amd(root, metadata[-1])
    _file_sec(root, record, metadata)
    _struct_map(root, record)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
