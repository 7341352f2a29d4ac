"""OCR throughput (issue 7): the Tesseract floor, ocrmypdf file by file, and our stage.

    .venv/bin/python benchmarks/ocr_throughput.py [--pages 40]

floor = total single-thread Tesseract CPU over the batch's pages / cores. The ratios are wall
clock against that floor: run it on an otherwise idle machine. Memory: the peak resident size of
the stage's whole process tree (workers and Tesseracts included), sampled every 50 ms, for the
batch and for its first quarter: flat in the number of pages means the two are alike.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._corpus import make_batch, page_images  # noqa: E402
from ingest.ocr import OcrOptions, ocr_documents  # noqa: E402


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class TreeMemory(threading.Thread):
    """Peak RSS (MB) of this process and all its descendants while running."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak, self._stop_event = 0.0, threading.Event()

    def run(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop_event.wait(0.05):
            self.peak = max(self.peak, sum(_rss_pages(pid) for pid in _tree(os.getpid())) * page / 1e6)

    def __enter__(self) -> TreeMemory:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop_event.set()
        self.join()


def _tree(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def _rss_pages(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0


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


def _first_pages(index: dict, pages: int) -> dict:
    """The first documents of the batch holding at least ``pages`` pages."""
    taken: dict = {}
    for rel, entries in index.items():
        if sum(len(v) for v in taken.values()) >= pages:
            break
        taken[rel] = entries
    return taken


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
        with TreeMemory() as memory:
            ours_s = ours(batch, index, root / "ours", cores)
        print(f"ours (ingest.ocr, jobs={cores}):     {ours_s:7.1f} s   = {ours_s / floor:.2f} x floor")
        quarter = _first_pages(index, len(images) // 4)
        with TreeMemory() as small:
            ours(batch, quarter, root / "ours-quarter", cores)
        pages_small = sum(len(p) for p in quarter.values())
        print(f"peak memory of the stage: {memory.peak:.0f} MB for {len(images)} pages, "
              f"{small.peak:.0f} MB for {pages_small} pages")
        if args.skip_ocrmypdf:
            return
        (root / "ocrmypdf").mkdir()
        ocrmypdf_s = ocrmypdf_file_by_file([batch / rel for rel in index], root / "ocrmypdf")
        print(f"ocrmypdf file by file:         {ocrmypdf_s:7.1f} s   = {ocrmypdf_s / floor:.2f} x floor")
        print(f"ratios: ours/floor = {ours_s / floor:.2f}, ours/ocrmypdf = {ours_s / ocrmypdf_s:.2f}")


if __name__ == "__main__":
    main()
