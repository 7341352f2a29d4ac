"""One case as a DA/T 48 electronic records encapsulation package (EEP): XML with the files in Base64.

Shape (DA/T 48-2009 §5; element names are the standard's)::

    电子文件封装包
      封装包格式描述, 版本
      被签名对象 (eep版本)
        封装包类型 原始型, 封装包类型描述, 封装包创建时间, 封装包创建单位
        封装内容
          文件实体块
            文件实体 (聚合层次 案卷): 档号, 题名, 保管期限, …, the case element set (jz:case)
            文件实体 (聚合层次 件) per document: 题名, 卷别, 页数, …, 文档 → 文档数据 → 编码:
                电子属性 (格式信息, 计算机文件名, 计算机文件大小, 数字摘要), 编码描述, 反编码关键字 base64, 编码数据
            文件实体 (聚合层次 保存元数据): premis.xml and METS.xml of the AIP's head, the same way
          业务实体块: one 业务实体 per PREMIS event (扫描, OCR, 归档, …)
          机构人员实体块: one 机构人员实体 per PREMIS agent (the court, operators, archivists, software)
      电子签名块
        电子签名: 签名规则, 签名时间, 签名人, 签名结果 (detached CMS over the C14N of 被签名对象, Base64),
                  证书块/证书 (the signer's certificate, Base64 DER), 签名算法标识

The signature comes from ``archive.signing``'s ``Signer`` (its public interface only), so a key
in an HSM or a PKI certificate signs EEPs the way it signs bags.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from archive import premis
from archive.mets import CASE_NS
from archive.package import CASE_JSON, METS_XML, PREMIS_XML, CaseRecord, StoredFile
from archive.signing import Signer, verify_detached
from schemas.errors import Problem

EEP_NS = "http://www.saac.gov.cn/standards/ERM/encapsulation"
E = f"{{{EEP_NS}}}"
EEP_VERSION = "2009"
FORMAT_DESCRIPTION = ("本EEP根据中华人民共和国档案行业标准DA/T 48-2009《基于XML的电子文件封装规范》生成，"
                      "案卷元数据采用 case-metadata-1 元素集（DA/T 46 核心元素与法〔2013〕283号案卷元素）")
ENCODING_DESCRIPTION = "本封装包中“编码数据”元素存储的是计算机文件二进制流的Base64编码，有关Base64编码规则参见IETF RFC 2045"


@dataclass(frozen=True)
class EncodedFile:
    """A file carried in an EEP: where it sits, what it says it is, and its bytes."""

    entity: str  # 文件实体's 题名 or role
    name: str  # 计算机文件名 (the AIP bag path)
    size: int
    sha256: str
    data: bytes | None  # None when the Base64 does not decode


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, E + tag, attrs)
    if text is not None:
        element.text = text
    return element


def signed_bytes(signed_object: etree._Element) -> bytes:
    """What the 电子签名 covers: the canonical XML (C14N 1.0) of 被签名对象."""
    return etree.tostring(signed_object, method="c14n")


# ---- building ------------------------------------------------------------------------------

def _encoded(parent: etree._Element, seq: int, stored: StoredFile, data: bytes, role: str) -> None:
    doc = _sub(parent, "文档", 文档标识符=f"doc-{seq}")
    _sub(doc, "文档序号", str(seq))
    _sub(doc, "文档主从声明", role)
    coded = _sub(_sub(doc, "文档数据", 文档数据ID=f"data-{seq}"), "编码", 编码ID=f"code-{seq}")
    props = _sub(coded, "电子属性")
    _sub(props, "格式信息", f"{stored.format_name} {stored.format_version}".strip())
    _sub(props, "计算机文件名", stored.path)
    _sub(props, "计算机文件大小", str(stored.size))
    digest = _sub(props, "数字摘要", stored.sha256)
    digest.set("算法", "SHA-256")
    _sub(coded, "编码描述", ENCODING_DESCRIPTION)
    _sub(coded, "反编码关键字", "base64")
    _sub(coded, "编码数据", base64.b64encode(data).decode("ascii"))


def _case_entity(block: etree._Element, record: CaseRecord, archival_code: str, case_xml: etree._Element) -> None:
    case = record.case
    entity = _sub(block, "文件实体")
    _sub(entity, "聚合层次", "案卷")
    source = _sub(entity, "来源")
    _sub(source, "立档单位名称", case.court)
    _sub(entity, "档号", archival_code)
    content = _sub(entity, "内容描述")
    _sub(content, "题名", f"{case.case_number}{case.cause_of_action}一案")
    _sub(content, "保管期限", case.retention_period)
    _sub(content, "密级", case.security_class)
    _sub(_sub(entity, "形式特征"), "页数", str(sum(d.entry.page_count for d in record.documents)))
    _sub(entity, "件数", str(len(record.documents)))
    _sub(entity, "案件元数据").append(case_xml)


def _document_entities(block: etree._Element, record: CaseRecord, read: dict[str, bytes]) -> int:
    seq = 0
    for doc in record.documents:
        meta = doc.entry.document
        entity = _sub(block, "文件实体")
        _sub(entity, "聚合层次", "件")
        _sub(entity, "文件标识符", doc.document_id)
        content = _sub(entity, "内容描述")
        _sub(content, "题名", meta.title)
        _sub(content, "卷别", meta.volume)
        _sub(content, "卷内顺序号", str(meta.seq))
        if meta.author:
            _sub(content, "责任者", meta.author)
        if meta.doc_date:
            _sub(content, "日期", meta.doc_date.isoformat())
        _sub(_sub(entity, "形式特征"), "页数", str(doc.entry.page_count))
        for stored, role in ((doc.original, "主文档（原件扫描）"), (doc.pdfa, "从文档（长期保存格式 PDF/A）")):
            if stored is not None:
                seq += 1
                _encoded(entity, seq, stored, read[stored.path], role)
    return seq


def _preservation_entity(block: etree._Element, metadata: list[StoredFile], read: dict[str, bytes], seq: int) -> None:
    entity = _sub(block, "文件实体")
    _sub(entity, "聚合层次", "保存元数据")
    _sub(_sub(entity, "内容描述"), "题名", "PREMIS 保存元数据与 METS 说明文件")
    for stored in metadata:
        seq += 1
        _encoded(entity, seq, stored, read[stored.path], "元数据")


def _business_block(content: etree._Element, premis_tree: etree._ElementTree) -> None:
    block = _sub(content, "业务实体块")
    P = premis.P
    for n, event in enumerate(premis_tree.getroot().iter(P + "event"), 1):
        entity = _sub(block, "业务实体")
        _sub(entity, "业务标识符", event.findtext(f"{P}eventIdentifier/{P}eventIdentifierValue") or f"event-{n}")
        for agent in event.findall(P + "linkingAgentIdentifier"):
            _sub(entity, "机构人员标识符", agent.findtext(P + "linkingAgentIdentifierValue") or "")
        _sub(entity, "业务行为", event.findtext(P + "eventType") or "")
        _sub(entity, "行为时间", event.findtext(P + "eventDateTime") or "")
        _sub(entity, "行为描述", event.findtext(f"{P}eventDetailInformation/{P}eventDetail") or "")
        _sub(entity, "业务状态", event.findtext(f"{P}eventOutcomeInformation/{P}eventOutcome") or "")


def _people_block(content: etree._Element, premis_tree: etree._ElementTree) -> None:
    block = _sub(content, "机构人员实体块")
    P = premis.P
    for agent in premis_tree.getroot().iter(P + "agent"):
        entity = _sub(block, "机构人员实体")
        _sub(entity, "机构人员标识符", agent.findtext(f"{P}agentIdentifier/{P}agentIdentifierValue") or "")
        _sub(entity, "机构人员类型", agent.findtext(P + "agentType") or "")
        name = agent.findtext(P + "agentName") or ""
        version = agent.findtext(P + "agentVersion")
        _sub(entity, "机构人员名称", f"{name} {version}" if version else name)
        if agent.findtext(P + "agentNote"):
            _sub(entity, "个人职位", agent.findtext(P + "agentNote"))


def _signature_block(root: etree._Element, signed: etree._Element, signer: Signer, when: datetime) -> None:
    cert = signer.certificate()
    sig = _sub(_sub(root, "电子签名块"), "电子签名", 签名ID="sig-1")
    _sub(sig, "签名规则", "CMS (RFC 5652) detached SignedData over the C14N of 被签名对象")
    _sub(sig, "签名时间", when.isoformat())
    _sub(sig, "签名人", cert.subject.rfc4514_string())
    _sub(sig, "签名结果", base64.b64encode(signer.sign_detached(signed_bytes(signed))).decode("ascii"))
    _sub(_sub(sig, "证书块"), "证书", base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii"))
    _sub(sig, "签名算法标识", cert.signature_algorithm_oid.dotted_string)


def build_eep(bag_files: dict[str, Path], archival_code: str, creator: str, signer: Signer,
              when: datetime | None = None) -> bytes:
    """The signed EEP of one case from its AIP head (``bag_files``: bag path -> stored file)."""
    when = when or datetime.now(timezone.utc)
    record = CaseRecord.model_validate_json(bag_files[CASE_JSON].read_bytes())
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)
    mets_tree = etree.parse(str(bag_files[METS_XML]), parser)
    premis_tree = etree.parse(str(bag_files[PREMIS_XML]), parser)
    case_xml = next(mets_tree.getroot().iter(f"{{{CASE_NS}}}case"))
    wanted = [f for d in record.documents for f in (d.original, d.pdfa) if f is not None]
    metadata = [_stored_of(bag_files, PREMIS_XML), _stored_of(bag_files, METS_XML)]
    read = {f.path: bag_files[f.path].read_bytes() for f in [*wanted, *metadata]}
    root = etree.Element(E + "电子文件封装包", nsmap={None: EEP_NS, "jz": CASE_NS})
    _sub(root, "封装包格式描述", FORMAT_DESCRIPTION)
    _sub(root, "版本", EEP_VERSION)
    signed = _sub(root, "被签名对象", eep版本=EEP_VERSION)
    _sub(signed, "封装包类型", "原始型")
    _sub(signed, "封装包类型描述", "本封装包包含一个案卷的电子档案及其元数据，原始封装，未经修改")
    _sub(signed, "封装包创建时间", when.isoformat())
    _sub(signed, "封装包创建单位", creator)
    content = _sub(signed, "封装内容")
    files = _sub(content, "文件实体块")
    _case_entity(files, record, archival_code, case_xml)
    seq = _document_entities(files, record, read)
    _preservation_entity(files, metadata, read, seq)
    _business_block(content, premis_tree)
    _people_block(content, premis_tree)
    _signature_block(root, signed, signer, when)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")  # not re-indented: C14N covers whitespace


def _stored_of(bag_files: dict[str, Path], rel: str) -> StoredFile:
    data = bag_files[rel].read_bytes()
    return StoredFile(path=rel, size=len(data), sha256=hashlib.sha256(data).hexdigest(), sha512="", sm3="",
                      media_type="application/xml", format_name="XML", format_version="1.0")


# ---- reading -------------------------------------------------------------------------------

def parse_eep(path: Path) -> etree._ElementTree:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    return etree.parse(str(path), parser)


def eep_archival_code(tree: etree._ElementTree) -> str:
    return tree.findtext(f"{E}被签名对象/{E}封装内容/{E}文件实体块/{E}文件实体/{E}档号") or ""


def eep_case(tree: etree._ElementTree) -> etree._Element | None:
    return next(tree.getroot().iter(f"{{{CASE_NS}}}case"), None)


def encoded_files(tree: etree._ElementTree) -> list[EncodedFile]:
    """Every 编码 of the EEP with its recorded properties and its decoded bytes."""
    out = []
    for entity in tree.getroot().iter(E + "文件实体"):
        title = entity.findtext(f"{E}内容描述/{E}题名") or ""
        for coded in entity.iter(E + "编码"):
            props = coded.find(E + "电子属性")
            raw = coded.findtext(E + "编码数据") or ""
            try:
                data: bytes | None = base64.b64decode(raw, validate=True)
            except ValueError:
                data = None
            out.append(EncodedFile(entity=title, name=props.findtext(E + "计算机文件名") or "",
                                   size=int(props.findtext(E + "计算机文件大小") or -1),
                                   sha256=props.findtext(E + "数字摘要") or "", data=data))
    return out


def verify_eep_signature(tree: etree._ElementTree, label: str,
                         trusted: list[x509.Certificate] | None) -> list[Problem]:
    """E734 problems of the EEP's 电子签名块 (empty when it verifies over 被签名对象)."""
    signed = tree.find(E + "被签名对象")
    result = tree.findtext(f"{E}电子签名块/{E}电子签名/{E}签名结果")
    if signed is None or not result:
        return [Problem.of("E734", label, reason="被签名对象 or 签名结果 is missing")]
    try:
        signature = base64.b64decode(result, validate=True)
    except ValueError as exc:
        return [Problem.of("E734", label, reason=f"签名结果 is not Base64 ({exc})")]
    found = verify_detached(signed_bytes(signed), signature, label, trusted)
    return [Problem.of("E734", label, reason=p.message) for p in found]
