"""Stage ``write_transfer_package``: archived cases -> a DA/T 93-style transfer package for the state archive.

Layout (the folder handed over on a medium or a network transfer)::

    说明文件.xml          who hands over to whom, when, how many cases, files and bytes, the
    说明文件.xml.p7s      目录文件's SHA-256; signed (detached CMS) by the archive
    目录文件.xml          案卷目录: per case 档号, 案号, 题名, 保管期限, 密级, 件数, 页数, and its EEP's
                         path, size and SHA-256
    <档号>/<档号>.xml     one DA/T 48 EEP per case (``archive.transfer.eep``)

Written into ``<out>.partial`` and renamed into place, so a package cut short never looks whole.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from lxml import etree

from archive.package import CaseRecord
from archive.signing import Signer
from archive.transfer.eep import EEP_VERSION, build_eep
from schemas.errors import InputRejected

TRANSFER_NS = "https://juanzong.example/ns/transfer/1"
T = f"{{{TRANSFER_NS}}}"
DESCRIPTION = "说明文件.xml"
CATALOG = "目录文件.xml"
SIGNATURE_SUFFIX = ".p7s"


@dataclass(frozen=True)
class CaseToTransfer:
    """One archived case: its head version's files (bag path -> stored file) and its 档号."""

    archival_code: str
    files: dict[str, Path]
    record: CaseRecord


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, T + tag, attrs)
    if text is not None:
        element.text = text
    return element


def eep_path(archival_code: str) -> str:
    return f"{archival_code}/{archival_code}.xml"


def _catalog_entry(root: etree._Element, n: int, case: CaseToTransfer, eep: bytes) -> None:
    meta = case.record.case
    entry = _sub(root, "案卷", 序号=str(n))
    _sub(entry, "档号", case.archival_code)
    _sub(entry, "案号", meta.case_number)
    _sub(entry, "题名", f"{meta.case_number}{meta.cause_of_action}一案")
    _sub(entry, "保管期限", meta.retention_period)
    _sub(entry, "密级", meta.security_class)
    _sub(entry, "件数", str(len(case.record.documents)))
    _sub(entry, "页数", str(sum(d.entry.page_count for d in case.record.documents)))
    _sub(entry, "封装包", 路径=eep_path(case.archival_code), 字节数=str(len(eep)),
         摘要=hashlib.sha256(eep).hexdigest(), 摘要算法="SHA-256")


def _description(catalog: bytes, cases: list[CaseToTransfer], eeps: list[bytes], fonds: str,
                 sender: str, receiver: str, when: datetime) -> bytes:
    root = etree.Element(T + "说明文件", nsmap={None: TRANSFER_NS}, 版本="1")
    _sub(root, "移交单位", sender)
    _sub(root, "接收单位", receiver)
    _sub(root, "移交时间", when.isoformat())
    _sub(root, "全宗号", fonds)
    _sub(root, "案卷数", str(len(cases)))
    _sub(root, "文件数", str(sum(len(c.record.documents) for c in cases)))
    _sub(root, "封装包数", str(len(eeps)))
    _sub(root, "总字节数", str(sum(len(e) for e in eeps)))
    _sub(root, "目录文件", 文件名=CATALOG, 字节数=str(len(catalog)), 摘要=hashlib.sha256(catalog).hexdigest(),
         摘要算法="SHA-256")
    _sub(root, "格式说明", f"每个案卷一个 DA/T 48-{EEP_VERSION} 电子文件封装包（XML，文件以 Base64 编码）；"
                          "内容文件为原件扫描（PDF/TIFF/JPEG）及其 PDF/A 长期保存格式")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def write_transfer_package(cases: list[CaseToTransfer], out: Path, *, fonds: str, sender: str, receiver: str,
                           signer: Signer, when: datetime | None = None) -> Path:
    """Write the package of ``cases`` to the new folder ``out``; returns it."""
    if out.exists():
        raise InputRejected("E721", str(out))
    when = when or datetime.now(timezone.utc)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        catalog_root = etree.Element(T + "目录文件", nsmap={None: TRANSFER_NS}, 版本="1")
        _sub(catalog_root, "全宗号", fonds)
        eeps = []
        for n, case in enumerate(cases, 1):
            eep = build_eep(case.files, case.archival_code, sender, signer, when)
            target = partial / eep_path(case.archival_code)
            target.parent.mkdir(parents=True)
            target.write_bytes(eep)
            _catalog_entry(catalog_root, n, case, eep)
            eeps.append(eep)
        catalog = etree.tostring(catalog_root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
        (partial / CATALOG).write_bytes(catalog)
        description = _description(catalog, cases, eeps, fonds, sender, receiver, when)
        (partial / DESCRIPTION).write_bytes(description)
        (partial / (DESCRIPTION + SIGNATURE_SUFFIX)).write_bytes(signer.sign_detached(description))
        os.rename(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return out
