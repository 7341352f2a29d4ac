"""BagIt 1.0 (RFC 8493) bags: write, read and verify.

We write bags ourselves instead of calling bagit-python's ``make_bag``, which bags in place by
moving files and changes the working directory. Each file is read once for all its digests
(SHA-256 and SHA-512 for the manifests, SM3 for PREMIS). Tag files that no tag manifest lists,
such as the detached signature ``tagmanifest-sha256.txt.p7s``, are allowed, as RFC 8493 §2.2.1
permits.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from archive.sm3 import CHUNK, new_sm3
from schemas.errors import Problem, Report

BAG_ALGORITHMS = ("sha256", "sha512")
BAGIT_TXT = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
PAYLOAD_DIR = "data"


@dataclass(frozen=True)
class FileDigests:
    """Size and every digest the AIP records for one file."""

    size: int
    sha256: str
    sha512: str
    sm3: str


class _MultiHasher:
    def __init__(self) -> None:
        self.size = 0
        self._hashers = {"sha256": hashlib.sha256(), "sha512": hashlib.sha512(), "sm3": new_sm3()}

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        for hasher in self._hashers.values():
            hasher.update(chunk)

    def result(self) -> FileDigests:
        h = {name: hasher.hexdigest() for name, hasher in self._hashers.items()}
        return FileDigests(size=self.size, sha256=h["sha256"], sha512=h["sha512"], sm3=h["sm3"])


def hash_file(path: Path) -> FileDigests:
    """All digests of ``path`` in one read."""
    hasher = _MultiHasher()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            hasher.update(chunk)
    return hasher.result()


def copy_with_digests(source: Path, target: Path) -> FileDigests:
    """Copy ``source`` to a new file ``target`` (never a link) and hash the bytes on the way."""
    target.parent.mkdir(parents=True, exist_ok=True)
    hasher = _MultiHasher()
    with source.open("rb") as src, target.open("xb") as dst:
        while chunk := src.read(CHUNK):
            hasher.update(chunk)
            dst.write(chunk)
    return hasher.result()


def write_with_digests(target: Path, data: bytes) -> FileDigests:
    """Write ``data`` to a new file ``target`` and return its digests."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("xb") as dst:
        dst.write(data)
    hasher = _MultiHasher()
    hasher.update(data)
    return hasher.result()


def encode_path(path: str) -> str:
    """A payload path as a manifest writes it; refuses %, CR and LF.

    RFC 8493 §2.1.3 percent-encodes them, but LoC bagit.py (1.9) does not decode ``%25``, so a
    bag holding such a name would fail ``bagit.py --validate``. Callers refuse such names first.
    """
    if any(c in path for c in "%\r\n"):
        raise ValueError(f"{path}: '%', CR and LF are not portable in BagIt manifests")
    return path


def decode_path(path: str) -> str:
    return path.replace("%0A", "\n").replace("%0a", "\n").replace("%0D", "\r").replace(
        "%0d", "\r").replace("%25", "%")


def _manifest_text(digests: Mapping[str, FileDigests], algorithm: str) -> str:
    return "".join(f"{getattr(d, algorithm)}  {encode_path(p)}\n" for p, d in sorted(digests.items()))


def _bag_info_text(info: Iterable[tuple[str, str]]) -> str:
    return "".join(f"{label}: {' '.join(value.split())}\n" for label, value in info)


def write_bag(bag_dir: Path, payload: Mapping[str, FileDigests],
              bag_info: Iterable[tuple[str, str]]) -> None:
    """Write bagit.txt, bag-info.txt, the payload and tag manifests around ``bag_dir/data``.

    ``payload`` maps every payload path (``data/...``, POSIX) to its digests, as returned when
    the files were written, so no payload file is read again.
    """
    oxum = f"{sum(d.size for d in payload.values())}.{len(payload)}"
    tags: dict[str, FileDigests] = {
        "bagit.txt": write_with_digests(bag_dir / "bagit.txt", BAGIT_TXT.encode()),
        "bag-info.txt": write_with_digests(
            bag_dir / "bag-info.txt",
            _bag_info_text([*bag_info, ("Payload-Oxum", oxum)]).encode("utf-8")),
    }
    for algorithm in BAG_ALGORITHMS:
        name = f"manifest-{algorithm}.txt"
        text = _manifest_text(payload, algorithm)
        tags[name] = write_with_digests(bag_dir / name, text.encode("utf-8"))
    for algorithm in BAG_ALGORITHMS:
        (bag_dir / f"tagmanifest-{algorithm}.txt").write_text(
            _manifest_text(tags, algorithm), encoding="utf-8", newline="\n")


def payload_digest(bag_dir: Path) -> str:
    """SHA-256 of manifest-sha256.txt with its lines sorted: equal payloads, equal digest."""
    return manifest_digest(bag_dir / "manifest-sha256.txt")


def manifest_digest(manifest: Path) -> str:
    """``payload_digest`` of a bag's payload manifest file wherever it is stored."""
    lines = sorted(manifest.read_bytes().splitlines())
    return hashlib.sha256(b"".join(line + b"\n" for line in lines)).hexdigest()


def read_manifest(bag_dir: Path, name: str = "manifest-sha256.txt") -> dict[str, str]:
    """``{path: digest}`` of one (tag) manifest; raises ValueError naming a malformed line."""
    entries: dict[str, str] = {}
    manifest = bag_dir / name
    for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), 1):
        digest, sep, path = line.partition(" ")
        if not sep or not digest or not path.strip():
            raise ValueError(f"{manifest}: line {number} is not '<digest> <path>'")
        entries[decode_path(path.lstrip(" *"))] = digest.lower()
    return entries


def read_bag_info(bag_dir: Path) -> dict[str, list[str]]:
    """bag-info.txt as ``{label: [values]}``, continuation lines joined."""
    info: dict[str, list[str]] = {}
    last: tuple[str, int] | None = None
    for line in (bag_dir / "bag-info.txt").read_text(encoding="utf-8").splitlines():
        if line[:1] in (" ", "\t") and last:
            info[last[0]][last[1]] += " " + line.strip()
            continue
        label, _, value = line.partition(":")
        info.setdefault(label.strip(), []).append(value.strip())
        last = (label.strip(), len(info[label.strip()]) - 1)
    return info


def _files_under(root: Path, top: Path) -> set[str]:
    found: set[str] = set()
    for dirpath, _dirs, files in os.walk(top):
        for name in files:
            found.add((Path(dirpath) / name).relative_to(root).as_posix())
    return found


def _check_listed(bag_dir: Path, listed: dict[str, dict[str, str]], report: Report,
                  fail_fast: bool) -> None:
    """Compare every listed file with its digests, reading each file once."""
    for path in sorted(listed):
        target = bag_dir / path
        if not target.is_file():
            report.add(Problem.of("E400", path))
        else:
            actual = hash_file(target)
            for algorithm, expected in sorted(listed[path].items()):
                if getattr(actual, algorithm) != expected:
                    report.add(Problem.of("E402", path, expected=f"{algorithm}:{expected}",
                                          found=f"{algorithm}:{getattr(actual, algorithm)}"))
        if fail_fast and not report.ok:
            return


def _read_manifests(bag_dir: Path, prefix: str, report: Report) -> dict[str, dict[str, str]]:
    listed: dict[str, dict[str, str]] = {}
    for algorithm in BAG_ALGORITHMS:
        name = f"{prefix}-{algorithm}.txt"
        if not (bag_dir / name).is_file():
            if prefix == "manifest":
                report.add(Problem.of("E430", name, reason="payload manifest missing"))
            continue
        try:
            entries = read_manifest(bag_dir, name)
        except (ValueError, UnicodeDecodeError) as exc:
            report.add(Problem.of("E430", name, reason=str(exc)))
            continue
        for path, digest in entries.items():
            if path.startswith("/") or ".." in path.split("/"):
                report.add(Problem.of("E430", path, reason=f"{name} names a path outside the bag"))
                continue
            listed.setdefault(path, {})[algorithm] = digest
    return listed


def _check_oxum(bag_dir: Path, payload: set[str], report: Report) -> None:
    try:
        oxum = read_bag_info(bag_dir).get("Payload-Oxum", [None])[0]
    except (OSError, UnicodeDecodeError) as exc:
        report.add(Problem.of("E430", "bag-info.txt", reason=str(exc)))
        return
    if oxum is None:
        return
    found = f"{sum((bag_dir / p).stat().st_size for p in payload)}.{len(payload)}"
    if oxum != found:
        report.add(Problem.of("E430", "bag-info.txt", reason=f"Payload-Oxum {oxum}, payload is {found}",
                              expected=oxum, found=found))


def validate_bag(bag_dir: Path, *, fail_fast: bool = False) -> Report:
    """Every finding about ``bag_dir``: missing, extra or changed payload and tag files.

    Per-file findings come before the Payload-Oxum summary so that no summary hides which file
    is wrong. Paths in the report are relative to the bag.
    """
    report = Report()
    if not (bag_dir / "bagit.txt").is_file():
        report.add(Problem.of("E430", str(bag_dir), reason="bagit.txt missing"))
        return report
    payload_listed = _read_manifests(bag_dir, "manifest", report)
    tag_listed = _read_manifests(bag_dir, "tagmanifest", report)
    if fail_fast and not report.ok:
        return report
    on_disk = _files_under(bag_dir, bag_dir / PAYLOAD_DIR)
    for extra in sorted(on_disk - set(payload_listed)):
        report.add(Problem.of("E405", extra))
    for outside in sorted(p for p in payload_listed if not p.startswith(PAYLOAD_DIR + "/")):
        report.add(Problem.of("E430", outside, reason="payload manifest lists a path outside data/"))
    _check_listed(bag_dir, payload_listed, report, fail_fast)
    if fail_fast and not report.ok:
        return report
    _check_listed(bag_dir, tag_listed, report, fail_fast)
    _check_oxum(bag_dir, on_disk & set(payload_listed), report)
    return report
