"""``verify_transfer_package``: what a receiving archive checks on a transfer package (移交与接收).

Every finding is a ``Problem`` with a stable code naming the file (and, inside an EEP, the file
it carries), grouped by the aspect it concerns so the YJ 四性检测 can report it by item:

    structure      说明文件, its signature and 目录文件 present and parseable (E730)
    signature      说明文件's detached signature (E734)
    catalog        目录文件's digest in 说明文件; each entry's EEP size, digest, 案号 and 题名 (E733, E735)
    complete       every case folder and EEP listed is there (E731)
    counts, bytes  案卷数, 封装包数, 文件数 and 总字节数 as stated (E732)
    extra          no file the 目录文件 does not list (E736)
    readable       every EEP parses and its Base64 decodes (E737)
    eep_signature  each EEP's 电子签名块 (E734)
    eep_digest     each carried file's size and SHA-256 as its 电子属性 records (E733)
    archival_code  folder name, 目录文件 entry and EEP agree on the 档号 (E738)
    metadata       each EEP carries a valid case element set with the required elements (E739)

Nothing is hidden behind an earlier failure unless the file needed is missing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography import x509
from lxml import etree
from pydantic import BaseModel

from archive.check4 import case_schema
from archive.mets import CASE_NS
from archive.signing import verify_detached
from archive.transfer.eep import E, eep_archival_code, eep_case, encoded_files, parse_eep, verify_eep_signature
from archive.transfer.package import CATALOG, DESCRIPTION, SIGNATURE_SUFFIX, T
from schemas.errors import Problem

ASPECTS = ("structure", "signature", "catalog", "complete", "counts", "bytes", "extra", "readable",
           "eep_signature", "eep_digest", "archival_code", "metadata")
REQUIRED_CASE_ELEMENTS = ("caseNumber", "court", "causeOfAction", "parties", "judge", "closingDate",
                          "retentionPeriod", "archivalCode", "contents")


class TransferCheck(BaseModel):
    """The findings on one package, by aspect; ``eeps`` are the EEPs that could be read."""

    package: str
    digest: str  # SHA-256 of 说明文件: what a sign-off of this package names
    aspects: dict[str, list[Problem]]
    eeps: dict[str, str]  # EEP path in the package -> absolute path, readable ones

    @property
    def problems(self) -> list[Problem]:
        return [p for a in ASPECTS for p in self.aspects.get(a, [])]

    @property
    def valid(self) -> bool:
        return not self.problems


class _Findings:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.aspects: dict[str, list[Problem]] = {a: [] for a in ASPECTS}
        self.trees: dict[str, etree._ElementTree] = {}  # readable EEPs, parsed once

    def add(self, aspect: str, code: str, rel: str, **params: object) -> None:
        self.aspects[aspect].append(Problem.of(code, rel, **params))


def _parse(path: Path) -> etree._ElementTree:
    return etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))


def _read_core(f: _Findings) -> tuple[etree._ElementTree | None, etree._ElementTree | None]:
    trees = []
    for name in (DESCRIPTION, CATALOG):
        path = f.root / name
        if not path.is_file():
            f.add("structure", "E730", name, reason="missing")
            trees.append(None)
            continue
        try:
            trees.append(_parse(path))
        except etree.XMLSyntaxError as exc:
            f.add("structure", "E730", name, reason=f"not well-formed XML ({exc})")
            trees.append(None)
    return trees[0], trees[1]


def _check_description(f: _Findings, description: etree._ElementTree, trusted: list[x509.Certificate] | None) -> None:
    signature = f.root / (DESCRIPTION + SIGNATURE_SUFFIX)
    if not signature.is_file():
        f.add("structure", "E730", DESCRIPTION + SIGNATURE_SUFFIX, reason="missing")
    else:
        for p in verify_detached((f.root / DESCRIPTION).read_bytes(), signature.read_bytes(), signature.name, trusted):
            f.add("signature", "E734", signature.name, reason=p.message)
    stated = description.find(T + "目录文件")
    catalog = f.root / CATALOG
    if stated is not None and catalog.is_file():
        found = hashlib.sha256(catalog.read_bytes()).hexdigest()
        if stated.get("摘要") != found:
            f.add("catalog", "E733", CATALOG, expected=stated.get("摘要"), found=found)


def _entries(catalog: etree._ElementTree) -> list[dict[str, str]]:
    out = []
    for entry in catalog.getroot().findall(T + "案卷"):
        eep = entry.find(T + "封装包")
        out.append({"档号": entry.findtext(T + "档号") or "", "案号": entry.findtext(T + "案号") or "",
                    "题名": entry.findtext(T + "题名") or "", "件数": entry.findtext(T + "件数") or "",
                    "path": eep.get("路径", "") if eep is not None else "",
                    "size": eep.get("字节数", "") if eep is not None else "",
                    "sha256": eep.get("摘要", "") if eep is not None else ""})
    return out


def _check_entry(f: _Findings, entry: dict[str, str], eeps: dict[str, str]) -> None:
    rel = entry["path"]
    folder = rel.split("/", 1)[0]
    if not rel or not (f.root / folder).is_dir():
        f.add("complete", "E731", CATALOG, found=folder or entry["档号"])
        return
    path = f.root / rel
    if not path.is_file():
        f.add("complete", "E731", CATALOG, found=rel)
        return
    data = path.read_bytes()
    if str(len(data)) != entry["size"]:
        f.add("catalog", "E735", rel, reason=f"目录文件 states {entry['size']} bytes, received {len(data)}")
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        f.add("catalog", "E733", rel, expected=entry["sha256"], found=hashlib.sha256(data).hexdigest())
    if folder != entry["档号"]:
        f.add("archival_code", "E738", rel, expected=entry["档号"], found=f"folder {folder}")
    try:
        tree = parse_eep(path)
    except etree.XMLSyntaxError as exc:
        f.add("readable", "E737", rel, reason=f"not well-formed XML ({exc})")
        return
    eeps[rel] = str(path)
    f.trees[rel] = tree
    _check_eep(f, rel, tree, entry)


def _check_eep(f: _Findings, rel: str, tree: etree._ElementTree, entry: dict[str, str]) -> None:
    if eep_archival_code(tree) != entry["档号"]:
        f.add("archival_code", "E738", rel, expected=entry["档号"], found=eep_archival_code(tree))
    for carried in encoded_files(tree):
        label = f"{rel}#{carried.name}"
        if carried.data is None:
            f.add("readable", "E737", label, reason="编码数据 is not valid Base64")
            continue
        found = hashlib.sha256(carried.data).hexdigest()
        if found != carried.sha256 or len(carried.data) != carried.size:
            f.add("eep_digest", "E733", label, expected=f"{carried.sha256} ({carried.size} bytes)",
                  found=f"{found} ({len(carried.data)} bytes)")
    _check_eep_metadata(f, rel, tree, entry)


def _check_eep_metadata(f: _Findings, rel: str, tree: etree._ElementTree, entry: dict[str, str]) -> None:
    case = eep_case(tree)
    if case is None:
        f.add("metadata", "E739", rel, found="the case element set (jz:case)")
        return
    missing = [n for n in REQUIRED_CASE_ELEMENTS if case.find(f"{{{CASE_NS}}}{n}") is None]
    if missing:
        f.add("metadata", "E739", rel, found=", ".join(missing))
    if not case_schema().validate(etree.ElementTree(case)):
        f.add("metadata", "E739", rel, found=f"a valid case element set ({case_schema().error_log.last_error})")
    number = case.findtext(f"{{{CASE_NS}}}caseNumber") or ""
    title = tree.findtext(f"{E}被签名对象/{E}封装内容/{E}文件实体块/{E}文件实体/{E}内容描述/{E}题名") or ""
    if number != entry["案号"] or title != entry["题名"]:
        f.add("catalog", "E735", CATALOG, reason=f"entry {entry['档号']} says 案号 {entry['案号']} 题名 {entry['题名']}, "
                                               f"its EEP {number} {title}")


def _check_counts(f: _Findings, description: etree._ElementTree, entries: list[dict[str, str]],
                  eeps: dict[str, str]) -> None:
    received = [p for p in f.root.rglob("*.xml") if p.parent != f.root]
    documents = sum(int(e["件数"] or 0) for e in entries)
    counted = {"案卷数": (len(entries), len([d for d in f.root.iterdir() if d.is_dir()])),
               "封装包数": (len(entries), len(received)), "文件数": (documents, _documents_in(f.trees))}
    for name, (listed, found) in counted.items():
        stated = description.findtext(T + name) or ""
        for value in (listed, found):
            if stated != str(value):
                f.add("counts", "E732", f"{DESCRIPTION} {name}", expected=stated, found=value)
                break
    stated_bytes = description.findtext(T + "总字节数") or ""
    total = sum(p.stat().st_size for p in received)
    if stated_bytes != str(total):
        f.add("bytes", "E732", f"{DESCRIPTION} 总字节数", expected=stated_bytes, found=total)


def _documents_in(trees: dict[str, etree._ElementTree]) -> int:
    return sum(sum(1 for e in t.getroot().iter(E + "文件实体") if e.findtext(E + "聚合层次") == "件")
               for t in trees.values())


def _check_extra(f: _Findings, entries: list[dict[str, str]]) -> None:
    listed = {DESCRIPTION, DESCRIPTION + SIGNATURE_SUFFIX, CATALOG, *(e["path"] for e in entries)}
    for path in sorted(f.root.rglob("*")):
        rel = path.relative_to(f.root).as_posix()
        if path.is_file() and rel not in listed:
            f.add("extra", "E736", rel)


def verify_transfer_package(root: Path, trusted: list[x509.Certificate] | None = None) -> TransferCheck:
    """Check a received package in full; never raises for a finding."""
    f = _Findings(Path(root))
    description, catalog = _read_core(f)
    if description is not None:
        _check_description(f, description, trusted)
    eeps: dict[str, str] = {}
    entries = _entries(catalog) if catalog is not None else []
    for entry in entries:
        _check_entry(f, entry, eeps)
    for rel, tree in f.trees.items():
        for p in verify_eep_signature(tree, rel, trusted):
            f.aspects["eep_signature"].append(p)
    if description is not None and catalog is not None:
        _check_counts(f, description, entries, eeps)
    _check_extra(f, entries)
    digest = hashlib.sha256((f.root / DESCRIPTION).read_bytes()).hexdigest() if (f.root / DESCRIPTION).is_file() else ""
    return TransferCheck(package=str(root), digest=digest, aspects=f.aspects, eeps=eeps)
