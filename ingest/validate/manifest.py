"""Manifest checks: is ``manifest.json`` there, is it JSON, does it follow the station schema.

A batch whose manifest fails here cannot be checked further (nothing says what its files
should be), so these checks raise ``ManifestRejected`` carrying a report whose problems
give the JSON pointer of each fault, instead of returning a ``CheckedBatch``.
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError as SchemaError
from pydantic import ValidationError

from ingest.manifest import (
    MANIFEST_NAME,
    MAX_MANIFEST_DEPTH,
    BatchManifest,
    ManifestTooDeep,
    parse_manifest_json,
)
from schemas import load_json
from schemas.errors import InputRejected, Problem, Report


class ManifestRejected(InputRejected):
    """The manifest is missing, not JSON or not a station manifest; ``report`` says where."""

    def __init__(self, report: Report) -> None:
        self.report = report
        first = report.problems[0]
        Exception.__init__(self, "; ".join(p.message for p in report.problems))
        self.code, self.path, self.params = first.code, first.path, {}


def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return "T" in value


def _validator() -> Draft202012Validator:
    """The station schema with our own date checks, so results do not depend on optional packages."""
    formats = FormatChecker(formats=())
    formats.checks("date")(_is_date)
    formats.checks("date-time")(_is_datetime)
    return Draft202012Validator(load_json("manifest.schema.json"), format_checker=formats)


def json_pointer(parts: Any) -> str:
    """RFC 6901 pointer for a path of keys and indexes; '' is the whole document."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _rejected(code: str, **params: Any) -> ManifestRejected:
    return ManifestRejected(Report(problems=[Problem.of(code, MANIFEST_NAME, **params)]))


def read_manifest_bytes(batch_dir: Path) -> bytes:
    """The manifest's bytes; a missing manifest or one that is a link is a rejection."""
    path = batch_dir / MANIFEST_NAME
    if path.is_symlink():
        raise _rejected("E117")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise _rejected("E100") from None
    except OSError as exc:
        raise _rejected("E101", reason=exc.strerror or str(exc)) from None
    with os.fdopen(fd, "rb") as f:
        return f.read()


def parse_manifest(raw: bytes) -> dict[str, Any]:
    """Decode and parse; a syntax error names its line and column."""
    try:
        data = parse_manifest_json(raw)
    except ManifestTooDeep:
        raise _rejected("E162", expected=MAX_MANIFEST_DEPTH) from None
    except UnicodeDecodeError as exc:
        raise _rejected("E101", reason=f"not UTF-8 at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise _rejected("E101", reason=f"line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    return data


def _schema_problem(error: SchemaError) -> Problem:
    pointer = json_pointer(error.absolute_path) or "/"
    return Problem.of("E102", MANIFEST_NAME, found=pointer, pointer=pointer, reason=error.message[:300])


def _unique(data: dict[str, Any], key: str, field: str) -> list[Problem]:
    seen: set[str] = set()
    problems = []
    for i, item in enumerate(data[key]):
        if item[field] in seen:
            pointer = f"/{key}/{i}/{field}"
            problems.append(Problem.of("E102", MANIFEST_NAME, found=pointer, pointer=pointer,
                                       reason=f"{item[field]} is listed twice"))
        seen.add(item[field])
    return problems


def validate_manifest(data: Any) -> Report:
    """Every schema fault with its JSON pointer, then paths and case numbers listed twice."""
    errors = sorted(_validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    report = Report(problems=[_schema_problem(e) for e in errors])
    if report.problems:
        return report
    for key, field in (("files", "path"), ("cases", "case_number")):
        report.problems.extend(_unique(data, key, field))
    report.problems.extend(_batch_prefix(data))
    return report


def _batch_prefix(data: dict[str, Any]) -> list[Problem]:
    """E157 unless ``batch_id`` begins with ``station_id`` and a hyphen: batch ids are one
    namespace, so every door (station API, hot folder, ``juanzong ingest``) holds a station to
    its own prefix, and no batch can take (and so block) another station's next id."""
    station, batch_id = data["station_id"], data["batch_id"]
    if batch_id.startswith(f"{station}-"):
        return []
    return [Problem.of("E157", MANIFEST_NAME, expected=f"{station}-", found=batch_id[:200])]


def load_manifest(batch_dir: Path) -> tuple[bytes, dict[str, Any]]:
    """The manifest's bytes and parsed data, or ``ManifestRejected``."""
    raw = read_manifest_bytes(batch_dir)
    data = parse_manifest(raw)
    report = validate_manifest(data)
    if report.problems:
        raise ManifestRejected(report)
    return raw, data


def build_manifest(data: dict[str, Any]) -> BatchManifest:
    """The typed manifest; anything the schema let through but the model refuses is a rejection."""
    try:
        return BatchManifest.model_validate(data)
    except ValidationError as exc:
        problems = [Problem.of("E102", MANIFEST_NAME, found=json_pointer(e["loc"]),
                               pointer=json_pointer(e["loc"]), reason=e["msg"])
                    for e in exc.errors()]
        raise ManifestRejected(Report(problems=problems)) from None
