"""四性检测 at 移交与接收 (YJ): the DA/T 70 YJ items, run on a received transfer package.

The structural findings come from ``verify_transfer_package`` (each aspect feeds one item); the
format and virus items read the PREMIS each EEP carries, with the same rule as GD and BC (a
validator's or scanner's event per file, never a claim); readability opens every carried PDF.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pikepdf
from cryptography import x509
from lxml import etree

from archive import premis
from archive.check4 import VALIDATOR, VIRUS_SCANNER, Check4Report, Result, evaluate_items
from archive.check4_signoff import SignOff
from archive.package import PREMIS_XML, StoredFile
from archive.premis_evidence import evidence_for
from archive.transfer.eep import EncodedFile, encoded_files, parse_eep
from archive.transfer.verify import TransferCheck, verify_transfer_package
from ingest._exec import qpdf


@dataclass
class YjContext:
    check: TransferCheck
    carried: dict[str, list[EncodedFile]] = field(default_factory=dict)  # EEP -> its files

    def problems(self, *aspects: str) -> list[str]:
        return [f"{p.code} {p.message}" for a in aspects for p in self.check.aspects.get(a, [])]


def _from_aspects(*aspects: str, ok: str):
    def check(ctx: YjContext) -> Result:
        found = ctx.problems(*aspects)
        return ("fail", found[:50]) if found else ("pass", [ok.format(n=len(ctx.check.eeps))])
    return check


def _object_id(f: EncodedFile) -> str:
    return premis.object_id(StoredFile(path=f.name, size=f.size, sha256=f.sha256, sha512="", sm3="",
                                       media_type="", format_name=""))


def _premis_of(files: list[EncodedFile]) -> etree._ElementTree | None:
    data = next((f.data for f in files if f.name == PREMIS_XML and f.data is not None), None)
    return etree.ElementTree(etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))) if data else None


def _evidence(ctx: YjContext, event_type: str, tool: str, prefix: str) -> Result:
    problems, evidence = [], []
    for eep, files in ctx.carried.items():
        tree = _premis_of(files)
        wanted = {_object_id(f): f"{eep}#{f.name}" for f in files if f.name.startswith(prefix)}
        if tree is None:
            problems.append(f"{eep}: no evidence (no premis.xml carried)")
            continue
        found, shown = evidence_for(tree, event_type, tool, wanted)
        problems += found
        evidence += shown
    if not ctx.carried:
        problems.append("no readable EEP to check")
    return ("fail", problems[:50]) if problems else ("pass", evidence[:20])


def check_formats(ctx: YjContext) -> Result:
    outcome, evidence = _evidence(ctx, "validation", VALIDATOR, "data/pdfa/")
    claims = [f"{eep}#{f.name}: not PDF/A by its content" for eep, files in ctx.carried.items()
              for f in files if f.name.startswith("data/pdfa/") and f.data and not _claims_pdfa(f.data)]
    return ("fail", claims + (evidence if outcome == "fail" else [])) if claims else (outcome, evidence)


def _claims_pdfa(data: bytes) -> bool:
    import io

    with pikepdf.open(io.BytesIO(data)) as pdf:
        return bool(pdf.open_metadata().pdfa_status)


def check_virus(ctx: YjContext) -> Result:
    return _evidence(ctx, "virus check", VIRUS_SCANNER, "data/original/")


def check_readable_pdf(ctx: YjContext) -> Result:
    problems, count = [], 0
    with tempfile.TemporaryDirectory(prefix="yj-") as tmp:
        for eep, files in ctx.carried.items():
            for f in files:
                if f.data is None or not f.data.startswith(b"%PDF-"):
                    continue
                count += 1
                path = Path(tmp) / f"{count}.pdf"
                path.write_bytes(f.data)
                ok, report = qpdf.check(path)
                if not ok:
                    problems.append(f"{eep}#{f.name}: {report.strip().splitlines()[-1] if report.strip() else 'qpdf failed'}")
    return ("fail", problems[:50]) if problems else ("pass", [f"{count} carried PDFs pass qpdf {qpdf.version()} --check"])


YJ_CHECKS = {
    "eep_signatures": _from_aspects("signature", "eep_signature", ok="说明文件 and {n} EEP signatures verify"),
    "eep_digests": _from_aspects("eep_digest", ok="every file carried in {n} EEPs has its recorded size and SHA-256"),
    "catalog_file": _from_aspects("catalog", ok="目录文件 matches 说明文件 and every EEP's size, digest, 案号 and 题名"),
    "archival_codes": _from_aspects("archival_code", ok="{n} case folders named by the 档号 their EEPs state"),
    "eep_metadata": _from_aspects("metadata", ok="{n} EEPs carry a valid case element set"),
    "counts": _from_aspects("counts", ok="案卷数, 封装包数 and 文件数 as stated"),
    "bytes": _from_aspects("bytes", ok="总字节数 as stated"),
    "package_complete": _from_aspects("complete", ok="every case folder and EEP the 目录文件 lists is present"),
    "eep_readable": _from_aspects("structure", "readable", ok="说明文件, 目录文件 and {n} EEPs parse; Base64 decodes"),
    "formats": check_formats, "readable_pdf": check_readable_pdf, "virus": check_virus,
    "extra_files": _from_aspects("extra", ok="no file outside 说明文件, 目录文件 and the listed EEPs"),
}


def run_check4_yj(package: Path, *, trusted: list[x509.Certificate] | None = None,
                  signoffs: dict[str, SignOff] | None = None) -> Check4Report:
    """Every YJ item on the transfer package at ``package``; never raises for a finding."""
    check = verify_transfer_package(package, trusted)
    ctx = YjContext(check=check, carried={rel: encoded_files(parse_eep(Path(p))) for rel, p in check.eeps.items()})
    items = evaluate_items("YJ", YJ_CHECKS, ctx, signoffs or {})  # type: ignore[arg-type]
    return Check4Report(aip_id=None, case_number=None, stage="YJ", version=None, package=str(package),
                        checked_at=datetime.now(timezone.utc), items=items)
