"""veraPDF: PDF/A validation of many files in one JVM.

``scripts/verapdf/install.sh`` copies ``org.verapdf.apps:greenfield-apps`` and its dependencies
from Maven Central into the repository's ``.verapdf/lib``. A JVM start costs seconds, so callers
hand over a whole batch at once and never call per file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from lxml import etree

from ingest._exec._run import ToolMissing, require, run

LIB = Path(__file__).resolve().parents[2] / ".verapdf" / "lib"
MAIN = "org.verapdf.apps.GreenfieldCliWrapper"
JVM_OPTIONS = ("-Xmx1g", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true")
NAME = "veraPDF"


@dataclass(frozen=True)
class FailedRule:
    """One rule of the validation profile that the file breaks, e.g. ISO 19005-2:2011 6.2.4.3-4."""

    specification: str
    clause: str
    test: str
    description: str
    failed_checks: int

    @property
    def rule_id(self) -> str:
        return f"{self.clause}-{self.test}"


@dataclass(frozen=True)
class Verdict:
    """veraPDF's answer for one file; ``error`` when it could not be parsed at all."""

    compliant: bool
    profile: str
    failed_rules: tuple[FailedRule, ...] = ()
    error: str = ""


def _jar() -> Path:
    jars = sorted(LIB.glob("greenfield-apps-*.jar")) if LIB.is_dir() else []
    if not jars:
        raise ToolMissing(f"veraPDF: not installed in {LIB}; run scripts/verapdf/install.sh")
    return jars[-1]


@cache
def version() -> str:
    """The installed version (``1.28.2``), read from the jar's name: no JVM start."""
    match = re.search(r"greenfield-apps-(.+)\.jar$", _jar().name)
    return match.group(1) if match else "unknown"


def _rule(element: etree._Element) -> FailedRule:
    return FailedRule(specification=element.get("specification", ""), clause=element.get("clause", ""),
                      test=element.get("testNumber", ""),
                      description=" ".join((element.findtext("description") or "").split()),
                      failed_checks=int(element.get("failedChecks") or 0))


def _verdict(job: etree._Element) -> Verdict:
    report = job.find("validationReport")
    if report is None:
        reason = job.findtext("taskException/exceptionMessage") or job.findtext(".//exceptionMessage")
        return Verdict(compliant=False, profile="", error=" ".join((reason or "not validated").split()))
    rules = tuple(_rule(r) for r in report.iterfind("details/rule") if r.get("status") == "failed")
    return Verdict(compliant=report.get("isCompliant") == "true", profile=report.get("profileName", ""),
                   failed_rules=rules)


def parse_report(xml: bytes) -> dict[Path, Verdict]:
    """veraPDF's XML report: one verdict per job, keyed by the file it names."""
    root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    return {Path(job.findtext("item/name") or ""): _verdict(job) for job in root.iter("job")}


def validate(pdfs: Sequence[Path], *, flavour: str = "2b", timeout: float = 1800) -> dict[Path, Verdict]:
    """Validate every file of ``pdfs`` against PDF/A ``flavour`` in one JVM."""
    if not pdfs:
        return {}
    _jar()
    files = [Path(p).absolute() for p in pdfs]
    argv = [require("java"), *JVM_OPTIONS, "-cp", f"{LIB}/*", MAIN, "--format", "xml",
            "--flavour", flavour, "--maxfailuresdisplayed", "1", *files]
    # Exit 1 means "some file is not compliant", 7 "some file is not a PDF": the report says which.
    proc = run(argv, timeout=timeout, check=False)
    if proc.returncode not in (0, 1, 7) or not proc.stdout.strip():
        raise RuntimeError(f"veraPDF exit {proc.returncode}: {proc.stderr[-500:].decode(errors='replace')}")
    found = parse_report(proc.stdout)
    missing = [f for f in files if f not in found]
    if missing:
        raise RuntimeError(f"veraPDF gave no verdict for {missing[0]}")
    return found
