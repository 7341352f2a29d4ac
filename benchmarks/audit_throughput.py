"""Audit throughput against `sha256sum` over the same stored files, in one run.

    .venv/bin/python benchmarks/audit_throughput.py [--mib 512] [--files 64] [--jobs 2]

Builds a throwaway OCFL root with one object, warms the page cache, then times
`sha256sum` (one process, the baseline) and `audit_store(mode="full")` (sha512 of every
content file plus inventories, bag and signature checks) over the same content files.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archive.audit import audit_store  # noqa: E402
from archive.fixity import digest_files  # noqa: E402
from archive.storage import OcflStore  # noqa: E402


def _make_source(src: Path, mib: int, files: int) -> None:
    (src / "data").mkdir(parents=True)
    per_file = (mib << 20) // files
    for number in range(files):
        (src / "data" / f"{number:04d}.pdf").write_bytes(os.urandom(per_file))


def _timed(label: str, func) -> float:
    start = time.perf_counter()
    func()
    elapsed = time.perf_counter() - start
    print(f"{label:<38} {elapsed:7.3f} s")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=512)
    parser.add_argument("--files", type=int, default=64)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src, root = Path(tmp) / "src", Path(tmp) / "root"
        _make_source(src, args.mib, args.files)
        store = OcflStore(root, jobs=args.jobs)
        store.commit("urn:bench:1", src, message="bench", agent="bench")
        paths = [str(r.path) for r in store.files("urn:bench:1").values()]
        subprocess.run(["cat", *paths], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
        size = sum(Path(p).stat().st_size for p in paths) / (1 << 20)
        print(f"{len(paths)} files, {size:.0f} MiB, jobs={args.jobs}, cpus={os.cpu_count()}")
        base = _timed("sha256sum (1 process)", lambda: subprocess.run(
            ["sha256sum", *paths], stdout=subprocess.DEVNULL, check=True))
        one = _timed("digest_files sha512, 1 thread", lambda: list(digest_files(map(Path, paths), ("sha512",), 1)))
        both = _timed("digest_files sha256+sha512, jobs", lambda: list(
            digest_files(map(Path, paths), ("sha256", "sha512"), args.jobs)))
        audit = _timed(f"audit_store full, jobs={args.jobs}", lambda: audit_store(store, mode="full", jobs=args.jobs))
        for label, seconds in (("sha256sum", base), ("sha512 1 thread", one), ("sha256+sha512 jobs", both),
                               ("audit full", audit)):
            print(f"{label:<22} {size / seconds:8.1f} MiB/s  {base / seconds:5.2f}x sha256sum")


if __name__ == "__main__":
    main()
