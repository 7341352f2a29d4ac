"""Problems, reports and exceptions with stable codes.

Codes and their zh/en texts live in ``schemas/error_codes.json``; a code is never
renumbered or reused. Stages return a ``Report`` of every finding; only the edge
(CLI, API, flow) decides whether a report is fatal and which exit code it maps to.
"""

from __future__ import annotations

import errno
import re
from enum import IntEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from schemas import load_json


class ExitCode(IntEnum):
    ok = 0
    internal_error = 1
    usage = 2
    rejected = 3
    verification_failed = 4
    settings = 5
    not_found = 6


def describe(code: str, lang: str = "en", **params: Any) -> str:
    """The registry's text for ``code`` with ``params`` filled in."""
    entry = load_json("error_codes.json")[code]
    try:
        return entry[lang].format(**params)
    except (KeyError, IndexError):
        return entry[lang]


_SERVER_PATH = re.compile(r"""(?<![^\s'"(=\[])/(?:[^\s'"()\[\]/]+/)+([^\s'"()\[\],;]*)""")


def public_text(text: str) -> str:
    """``text`` with every absolute path cut to its last part: what a station or reader is told
    never shows where the server keeps things."""
    return _SERVER_PATH.sub(lambda m: m.group(1) or "…", text)


class Problem(BaseModel):
    """One finding: which file, which stable code, and a sentence a person can act on."""

    model_config = ConfigDict(frozen=True)

    path: str
    code: str
    message: str
    expected: str | None = None
    found: str | None = None
    fatal: bool = True

    @classmethod
    def of(cls, code: str, path: str, *, expected: Any = None, found: Any = None,
           fatal: bool = True, **params: Any) -> Problem:
        params.setdefault("path", path)
        params.setdefault("expected", expected)
        params.setdefault("found", found)
        return cls(
            path=path,
            code=code,
            message=describe(code, **params),
            expected=None if expected is None else str(expected),
            found=None if found is None else str(found),
            fatal=fatal,
        )

    def public(self) -> dict[str, str]:
        """The CLI/API shape: ``{path, code, message}``."""
        return {"path": self.path, "code": self.code, "message": self.message}


class Report(BaseModel):
    """Every finding of a validation; the caller decides whether to raise."""

    problems: list[Problem] = []

    def add(self, problem: Problem) -> None:
        self.problems.append(problem)

    def extend(self, other: Report) -> None:
        self.problems.extend(other.problems)

    @property
    def ok(self) -> bool:
        return not any(p.fatal for p in self.problems)

    def for_path(self, path: str) -> list[Problem]:
        return [p for p in self.problems if p.path == path]


class JuanzongError(Exception):
    """Base of the project's exceptions: a stable code, an exit code and a message naming the file."""

    exit_code: ExitCode = ExitCode.internal_error

    def __init__(self, code: str, path: str = "", **params: Any) -> None:
        self.code = code
        self.path = path
        self.params = params
        super().__init__(describe(code, path=path, **params))


class InputRejected(JuanzongError):
    exit_code = ExitCode.rejected


class VerificationFailed(JuanzongError):
    exit_code = ExitCode.verification_failed


class NotFound(JuanzongError):
    exit_code = ExitCode.not_found


class ConfigurationError(JuanzongError):
    exit_code = ExitCode.settings


class Unavailable(JuanzongError):
    """A service the archive needs (the search cluster) does not answer: try again later."""


class NoSpace(JuanzongError):
    """The disk (or quota) is full: the operation stopped without leaving half-written files."""


def is_no_space(exc: BaseException) -> bool:
    """An OSError for a full disk or quota, or SQLite's "database or disk is full"."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return "database or disk is full" in str(exc)


def no_space_error(exc: BaseException, path: str = "") -> NoSpace:
    """E166 naming the file the full disk refused (``OSError.filename`` when it says)."""
    filename = getattr(exc, "filename", None) if isinstance(exc, OSError) else None
    return NoSpace("E166", str(filename or path or "-"))
