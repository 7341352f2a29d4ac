"""Streaming, parallel file digests: each file is read once for all its algorithms.

hashlib releases the GIL while hashing buffers larger than 2 KiB, so threads scale
across cores without the pickling cost of processes (see benchmarks/audit_throughput.py).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CHUNK = 1 << 20
DEFAULT_ALGORITHMS = ("sha256", "sha512")


def digest_file(path: Path, algorithms: Iterable[str] = DEFAULT_ALGORITHMS) -> tuple[Path, dict[str, str], int]:
    """One file, read once in 1 MiB blocks, fed to every hasher. Raises OSError naming the file."""
    hashers = {name: hashlib.new(name) for name in algorithms}
    size = 0
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while True:
            count = handle.readinto(buffer)
            if not count:
                break
            size += count
            for hasher in hashers.values():
                hasher.update(view[:count])
    return path, {name: h.hexdigest() for name, h in hashers.items()}, size


def default_jobs() -> int:
    return os.cpu_count() or 1


def digest_files(
    paths: Iterable[Path], algorithms: Iterable[str] = DEFAULT_ALGORITHMS, jobs: int = 0
) -> Iterator[tuple[Path, dict[str, str], int]]:
    """Digest ``paths`` in ``jobs`` threads (0: one per core), yielding results in input order."""
    algos = tuple(algorithms)
    workers = jobs or default_jobs()
    if workers == 1:
        for path in paths:
            yield digest_file(path, algos)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fixity") as pool:
        yield from pool.map(lambda p: digest_file(p, algos), paths)
