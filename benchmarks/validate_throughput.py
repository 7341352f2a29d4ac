"""Validation throughput (files/s, MB/s) of ``check_batch`` against ``sha256sum`` on the same files.

    .venv/bin/python benchmarks/validate_throughput.py [BATCH_DIR] [--runs N]

Without BATCH_DIR a 500-page batch is generated with the shared corpus generator
(``make_corpus.py OUT --pages-total 500 --seed 1``, about a minute). Both sides run with a warm
page cache; each figure is the best of ``--runs``. ``sha256sum`` only hashes; ``check_batch``
also parses every PDF and decodes every page image (at 1/4 size) for the blank-page check,
so the breakdown shows what each step costs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import ingest.validate as validate  # noqa: E402
from ingest.manifest import read_manifest  # noqa: E402
from ingest.validate.files import read_file  # noqa: E402
from ingest.validate import formats  # noqa: E402
from ingest._exec import siegfried  # noqa: E402
from ingest.validate.formats import inspect_file  # noqa: E402
from PIL import Image  # noqa: E402

GENERATOR = REPO / ".." / "shared" / "corpus" / "make_corpus.py"


def best_of(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def make_batch(out: Path) -> Path:
    if not GENERATOR.exists():
        sys.exit(f"{GENERATOR} is absent: pass a BATCH_DIR")
    subprocess.run([sys.executable, str(GENERATOR), str(out), "--pages-total", "500", "--seed", "1"],
                   check=True, stdout=subprocess.DEVNULL)
    return next(p for p in out.iterdir() if p.is_dir() and p.name != "ground_truth")


def sha256sum(files: list[Path]) -> None:
    subprocess.run(["sha256sum", *map(str, files)], check=True, stdout=subprocess.DEVNULL)


def hash_and_parse(batch: Path, decode: bool) -> None:
    """Read + SHA-256 every file, and (decode=True) run the format and page inspection too."""
    files = read_manifest(batch).files
    identified = siegfried.identify([batch / e.path for e in files]) if decode else {}
    for entry in files:
        read = read_file(batch / entry.path)
        if decode:
            inspect_file(entry.path, entry.media_type, read.data, 200_000_000,
                         identified[(batch / entry.path).absolute()])


def check_with(batch: Path, workers: int) -> None:
    validate.WORKERS = workers
    checked = validate.check_batch(batch)
    assert checked.report.ok, checked.report.problems[:3]


def report(label: str, seconds: float, files: int, size: int, baseline: float) -> None:
    print(f"{label:<44} {seconds:7.2f} s {files / seconds:8.1f} files/s {size / seconds / 1e6:8.1f} MB/s"
          f"   x{seconds / baseline:5.1f} of sha256sum")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("batch", nargs="?", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="juanzong-bench-") as tmp:
        batch = args.batch or make_batch(Path(tmp) / "out")
        manifest = read_manifest(batch)
        files = [batch / f.path for f in manifest.files]
        size = sum(p.stat().st_size for p in files)
        print(f"batch {batch.name}: {len(files)} files, {manifest.page_total} pages, {size / 1e6:.1f} MB")
        sha256sum(files)  # warm the page cache for both sides
        base = best_of(args.runs, lambda: sha256sum(files))
        report("sha256sum (baseline)", base, len(files), size, base)
        report("read + SHA-256 only (Python)", best_of(args.runs, lambda: hash_and_parse(batch, False)),
               len(files), size, base)
        decode = formats._decode_pdf_image
        formats._decode_pdf_image = lambda image: Image.new("L", (1, 1), 255)  # skip decoding
        report("read + SHA-256 + PDF structure, no decoding",
               best_of(args.runs, lambda: hash_and_parse(batch, True)), len(files), size, base)
        formats._decode_pdf_image = decode
        report("read + SHA-256 + PDF/page inspection, 1 thread",
               best_of(args.runs, lambda: hash_and_parse(batch, True)), len(files), size, base)
        for workers in (1, 2):
            report(f"check_batch, {workers} worker thread(s)",
                   best_of(args.runs, lambda: check_with(batch, workers)), len(files), size, base)


if __name__ == "__main__":
    main()
