"""PDF/A conformance of the archive's own derivatives, judged by veraPDF.

The OCR stage's own save check (pikepdf) is the maker grading its work; an archive auditor wants
the field's validator. All derivatives of a batch go to veraPDF together (one JVM), and each
verdict travels with its OCR result into case.json and the PREMIS validation event. A derivative
veraPDF rejects is still archived (the station's original is the master), but the ingest reports
it (E221, naming the file and the rules), and the 四性检测 sees the failed event.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from ingest._exec import verapdf
from ingest.records import OcrResult, PdfaValidation
from schemas.errors import Problem

FLAVOUR = "2b"


def _rule_text(rule: verapdf.FailedRule) -> str:
    return f"{rule.specification} {rule.rule_id}: {rule.description}"


def verdict_record(verdict: verapdf.Verdict, checked_at: datetime) -> PdfaValidation:
    return PdfaValidation(validator=verapdf.NAME, version=verapdf.version(), profile=verdict.profile,
                          compliant=verdict.compliant, failed_rules=tuple(map(_rule_text, verdict.failed_rules)),
                          error=verdict.error, checked_at=checked_at)


def validate_derivatives(results: Sequence[OcrResult]) -> list[OcrResult]:
    """Every result with a PDF/A gains veraPDF's verdict on it; one JVM for all of them."""
    verdicts = verapdf.validate([r.pdfa for r in results if r.pdfa is not None], flavour=FLAVOUR)
    checked_at = datetime.now(timezone.utc)
    return [r.model_copy(update={"validation": verdict_record(verdicts[r.pdfa.absolute()], checked_at)})
            if r.pdfa is not None else r for r in results]


def conformance_problems(results: Sequence[OcrResult]) -> list[Problem]:
    """E221 for each derivative veraPDF found not compliant: the file, then every failed rule."""
    problems = []
    for r in results:
        v = r.validation
        if v is not None and not v.compliant:
            found = "; ".join(v.failed_rules) or v.error or "not compliant"
            problems.append(Problem.of("E221", r.source_path, expected=f"PDF/A-{FLAVOUR}", found=found,
                                       fatal=False))
    return problems
