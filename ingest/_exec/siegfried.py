"""siegfried (``sf``): PRONOM format identification of many files in one process.

``scripts/siegfried/install.sh`` builds ``sf`` into the repository's ``.tools/bin`` with the
PRONOM signature file embedded (``-tags static``), so identification reads nothing from the
network or the user's home; an ``sf`` on PATH is the fallback. Chosen over fido by
``benchmarks/format_identification.py`` (README, "Validation").
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ingest._exec._run import ToolMissing, run

BUILT = Path(__file__).resolve().parents[2] / ".tools" / "bin" / "sf"
CHUNK = 400  # files per call, well under the argument-length limit
UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class Identification:
    """siegfried's answer for one file: the PRONOM id (``fmt/477``) or ``UNKNOWN``."""

    puid: str
    name: str
    version: str
    mime: str
    basis: str
    warning: str

    @property
    def is_known(self) -> bool:
        return self.puid != UNKNOWN


def program() -> str:
    """The ``sf`` built by install.sh, else one on PATH; ToolMissing when neither exists."""
    if BUILT.is_file():
        return str(BUILT)
    found = shutil.which("sf")
    if found is None:
        raise ToolMissing(f"sf: not built ({BUILT}) and not on PATH; run scripts/siegfried/install.sh")
    return found


@cache
def version() -> str:
    """``siegfried 1.11.2, DROID_SignatureFile_V120`` (program and PRONOM signature release)."""
    out = run([program(), "-version"]).stdout.decode()
    sf = re.search(r"siegfried\s+([\d.]+)", out)
    droid = re.search(r"(DROID_SignatureFile_V\d+)", out)
    return f"siegfried {sf.group(1) if sf else '?'}, {droid.group(1) if droid else 'unknown signatures'}"


def _chunks(paths: Sequence[Path]) -> Iterator[Sequence[Path]]:
    for start in range(0, len(paths), CHUNK):
        yield paths[start:start + CHUNK]


def _parse(entry: dict) -> Identification:
    match = (entry.get("matches") or [{}])[0]
    return Identification(puid=match.get("id") or UNKNOWN, name=match.get("format", ""),
                          version=match.get("version", ""), mime=match.get("mime", ""),
                          basis=match.get("basis", ""),
                          warning=match.get("warning", "") or entry.get("errors", ""))


def identify(paths: Sequence[Path], *, timeout: float = 600) -> dict[Path, Identification]:
    """Identify every file of ``paths`` (one ``sf`` process per few hundred files)."""
    found: dict[Path, Identification] = {}
    for chunk in _chunks([Path(p).absolute() for p in paths]):
        out = run([program(), "-json", "-nr", *chunk], timeout=timeout).stdout
        for entry in json.loads(out)["files"]:
            found[Path(entry["filename"])] = _parse(entry)
    return found
