"""Move a batch folder atomically: one ``os.rename`` on the same filesystem, otherwise copy
into a hidden sibling of the destination, verify every file's size and SHA-256, rename the
copy into place and only then remove the source. A crash leaves either the source whole or
the destination whole (plus at most a hidden ``.moving-*`` copy), never half a batch."""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import shutil
from pathlib import Path

from schemas.errors import InputRejected

CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def _files(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink()}


def _verify_copy(src: Path, dst: Path) -> None:
    """Same names, sizes and SHA-256 on both sides, or raise naming the first difference."""
    a, b = _files(src), _files(dst)
    if a.keys() != b.keys():
        missing = sorted(a.keys() ^ b.keys())[0]
        raise InputRejected("E153", str(src / missing), reason="file missing after copy")
    for rel, path in a.items():
        other = b[rel]
        if path.stat().st_size != other.stat().st_size or sha256_of(path) != sha256_of(other):
            raise InputRejected("E153", str(path), reason="copy differs from the original")


def move_tree(src: Path, dest: Path) -> Path:
    """Move folder ``src`` to ``dest`` (which must not exist) atomically; return ``dest``."""
    if dest.exists():
        raise InputRejected("E153", str(src), reason=f"{dest} already exists")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(src, dest)
        return dest
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise InputRejected("E153", str(src), reason=exc.strerror or str(exc)) from exc
    tmp = dest.parent / f".moving-{dest.name}-{secrets.token_hex(4)}"
    shutil.copytree(src, tmp, symlinks=True)
    try:
        _verify_copy(src, tmp)
    except InputRejected:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    os.rename(tmp, dest)
    shutil.rmtree(src)
    return dest


def write_json_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary sibling and ``os.replace`` it, so readers never see half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
