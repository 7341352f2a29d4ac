"""SM3 (GB/T 32905-2016) digests, streamed.

gmssl's pure-Python ``sm3_hash`` needs the whole file as a list of ints and runs at about
40 KB/s, too slow for scans; OpenSSL (through ``hashlib`` or ``cryptography``) streams at
hundreds of MB/s. gmssl stays as the reference the tests compare against.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

CHUNK = 1 << 20


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


class _CryptographySm3:
    """``hashlib``-shaped wrapper for OpenSSL builds that hide SM3 from ``hashlib``."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives import hashes

        self._hash = hashes.Hash(hashes.SM3())

    def update(self, data: bytes, /) -> None:
        self._hash.update(data)

    def hexdigest(self) -> str:
        return self._hash.finalize().hex()


def new_sm3() -> Hasher:
    """A streaming SM3 hasher from whichever OpenSSL binding offers it."""
    if "sm3" in hashlib.algorithms_available:
        return hashlib.new("sm3")
    return _CryptographySm3()


def sm3_file(path: Path) -> str:
    """Hex SM3 of a file, read in 1 MiB chunks."""
    hasher = new_sm3()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()
