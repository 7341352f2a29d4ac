"""Court metadata rules on a schema-valid manifest: 案号, dates, retention period, 副卷 disclosure.

Works on the parsed JSON (before the typed model is built) because two rules change what the
archive records: a legacy retention period (长期/短期) is mapped to today's value, and a 副卷
document marked disclosable has the flag forced off. Both are reported, never silent.
Case-level faults are reported on every file of the case, so each blocked file names its reason;
a case without files is reported on ``manifest.json``.
"""

from __future__ import annotations

import copy
import re
from datetime import date, datetime
from typing import Any

from ingest.manifest import MANIFEST_NAME
from schemas.errors import Problem

RETENTION_PERIODS = ("永久", "60年", "20年")
LEGACY_RETENTION = {"长期": "60年", "短期": "20年"}

# （收案年度）+ 法院代字 + 类型代字 + 案件编号 + 号, e.g. （2023）粤0114民初6749号, （2022）最高法民申12号.
CASE_NUMBER = re.compile(
    r"^（(?P<year>(19|20)\d\d)）"
    r"(?P<court>最高法|[\u4e00-\u9fff]\d{0,4})"
    r"(?P<kind>[\u4e00-\u9fff]{1,5})"
    r"(?P<seq>[1-9]\d{0,5})号$"
)


def is_case_number(value: str) -> bool:
    """True when ``value`` follows the official 案号 pattern (full-width brackets, no leading zeros)."""
    return CASE_NUMBER.fullmatch(value) is not None


def _date_fault(case: dict[str, Any]) -> str | None:
    filed, closed = case["filing_date"], case.get("closing_date")
    if closed is not None and date.fromisoformat(closed) < date.fromisoformat(filed):
        return f"filing_date {filed} > closing_date {closed}"
    return None


def _case_faults(case: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Fatal faults of one case as (code, params)."""
    faults: list[tuple[str, dict[str, Any]]] = []
    if not is_case_number(case["case_number"]):
        faults.append(("E121", {"found": case["case_number"]}))
    order = _date_fault(case)
    if order:
        faults.append(("E122", {"found": f"{case['case_number']}: {order}"}))
    period = case["retention_period"]
    if period not in RETENTION_PERIODS and period not in LEGACY_RETENTION:
        faults.append(("E125", {"found": period, "expected": "/".join(RETENTION_PERIODS)}))
    return faults


def _map_retention(case: dict[str, Any]) -> tuple[str, str] | None:
    """Rewrite a legacy retention period in place; return (legacy, mapped) when it did."""
    legacy = case["retention_period"]
    if legacy not in LEGACY_RETENTION:
        return None
    case["retention_period"] = LEGACY_RETENTION[legacy]
    case["retention_period_legacy"] = legacy
    return legacy, case["retention_period"]


def _batch_date_fault(data: dict[str, Any]) -> list[Problem]:
    started, finished = (datetime.fromisoformat(data[k]) for k in ("scan_started", "scan_finished"))
    try:
        backwards = finished < started
    except TypeError:  # one with a time zone, one without: the schema allows both, order is unknown
        backwards = False
    if backwards:
        found = f"scan_started {data['scan_started']} > scan_finished {data['scan_finished']}"
        return [Problem.of("E122", MANIFEST_NAME, found=found)]
    return []


def _case_problems(case: dict[str, Any], paths: list[str]) -> list[Problem]:
    problems = []
    for code, params in _case_faults(case):
        problems += [Problem.of(code, p, **params) for p in paths or [MANIFEST_NAME]]
    mapped = _map_retention(case)
    if mapped:
        problems += [Problem.of("E123", p, found=mapped[0], expected=mapped[1], fatal=False)
                     for p in paths or [MANIFEST_NAME]]
    return problems


def _file_problems(entry: dict[str, Any], known_cases: set[str]) -> list[Problem]:
    problems = []
    if entry["case_number"] not in known_cases:
        problems.append(Problem.of("E120", entry["path"], found=entry["case_number"]))
    document = entry["document"]
    if document["volume"] == "副卷" and document["disclosable"]:
        document["disclosable"] = False
        problems.append(Problem.of("E124", entry["path"], expected=False, found=True, fatal=False))
    return problems


def check_metadata(data: dict[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """A corrected copy of the manifest data and every metadata finding; ``data`` is not changed."""
    fixed = copy.deepcopy(data)
    problems = _batch_date_fault(fixed)
    for case in fixed["cases"]:
        paths = [f["path"] for f in fixed["files"] if f["case_number"] == case["case_number"]]
        problems += _case_problems(case, paths)
    known = {c["case_number"] for c in fixed["cases"]}
    for entry in fixed["files"]:
        problems += _file_problems(entry, known)
    return fixed, problems
