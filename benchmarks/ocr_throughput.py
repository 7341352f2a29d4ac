"""OCR throughput (issue 7): the Tesseract floor, ocrmypdf file by file, and our stage.

    .venv/bin/python benchmarks/ocr_throughput.py [--pages 40]

floor = total single-thread Tesseract CPU over the batch's pages / cores. The ratios are wall
clock against that floor: run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._corpus import make_batch, page_images  # noqa: E402
from ingest.ocr import OcrOptions, ocr_documents  # noqa: E402


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def tesseract_floor(images: list[Path], cores: int) -> tuple[float, float]:
    """(floor seconds, wall seconds of running them on all cores)."""
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    cpu0, wall0 = _child_cpu(), time.perf_counter()
    with ThreadPoolExecutor(cores) as pool:
        list(pool.map(lambda p: subprocess.run(["tesseract", str(p), "-", "-l", "chi_sim", "--dpi", "200"],
                                               capture_output=True, env=env, check=True), images))
    return (_child_cpu() - cpu0) / cores, time.perf_counter() - wall0


def ocrmypdf_file_by_file(files: list[Path], out: Path) -> float:
    started = time.perf_counter()
    for n, pdf in enumerate(files):
        subprocess.run([sys.executable, "-m", "ocrmypdf", "-q", "-l", "chi_sim", "--output-type", "pdfa",
                        "--rotate-pages", "--deskew", str(pdf), str(out / f"{n}.pdf")], check=True)
    return time.perf_counter() - started


def ours(batch: Path, index: dict, work: Path, cores: int) -> float:
    started = time.perf_counter()
    results = ocr_documents([(rel, batch / rel) for rel in index], work, OcrOptions(jobs=cores))
    failed = [r.source_path for r in results if r.status != "done"]
    if failed:
        print(f"warning: not done: {failed}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--skip-ocrmypdf", action="store_true", help="leave out the slow file-by-file baseline")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="ocr-bench-") as tmp:
        root = Path(tmp)
        batch, index = make_batch(root / "corpus", "--pages-total", str(args.pages), "--seed", "11")
        (root / "img").mkdir()
        images = page_images(batch, index, root / "img")
        print(f"batch: {len(index)} documents, {len(images)} pages, {cores} cores")
        floor, floor_wall = tesseract_floor([p for _, _, p in images], cores)
        print(f"floor (Tesseract CPU / cores): {floor:7.1f} s   (bare Tesseract on all cores: {floor_wall:.1f} s wall)")
        ours_s = ours(batch, index, root / "ours", cores)
        print(f"ours (ingest.ocr, jobs={cores}):     {ours_s:7.1f} s   = {ours_s / floor:.2f} x floor")
        if args.skip_ocrmypdf:
            return
        (root / "ocrmypdf").mkdir()
        ocrmypdf_s = ocrmypdf_file_by_file([batch / rel for rel in index], root / "ocrmypdf")
        print(f"ocrmypdf file by file:         {ocrmypdf_s:7.1f} s   = {ocrmypdf_s / floor:.2f} x floor")
        print(f"ratios: ours/floor = {ours_s / floor:.2f}, ours/ocrmypdf = {ours_s / ocrmypdf_s:.2f}")


if __name__ == "__main__":
    main()
