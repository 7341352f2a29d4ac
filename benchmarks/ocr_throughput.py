"""OCR throughput (issues 7 and 18): each policy against the Tesseract floor, as a user sees it.

    .venv/bin/python benchmarks/ocr_throughput.py [--pages 40] [--repeats 2]
        [--policies tesseract ppocr hybrid] [--memory-pages 12 200] [--accuracy acc.json]

floor = total single-thread Tesseract CPU over the batch's pages / cores. For each policy, in
alternating order and ``--repeats`` times: the OCR stage alone (``ocr_documents``: wall clock,
s/page, peak memory of its whole process tree) and ``juanzong ingest DIR`` from start to exit
in a fresh home (validate, OCR, package, sign, store, catalog, index), once as the home's
first command (it starts the local Prefect server) and once after ``juanzong audit`` has. Every ratio is against
the floor measured in the same run; the machine may be shared, so compare ratios, not seconds.
``--memory-pages`` runs the stage of the first policy on batches of those sizes: a flat peak
means memory does not grow with the batch. ``--accuracy`` joins the CER columns written by
``ocr_accuracy.py --json`` into the one table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._corpus import make_batch, page_images  # noqa: E402
from benchmarks._ocr_table import print_table  # noqa: E402
from benchmarks._proc import ProcessTree  # noqa: E402
from cli._runner import socket_path  # noqa: E402
from flows._prefect_server import stop_shared_server  # noqa: E402
from ingest.ocr import OcrOptions, ocr_documents  # noqa: E402

JUANZONG = Path(sys.executable).parent / "juanzong"


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


def stage(batch: Path, index: dict, work: Path, cores: int, policy: str,
          by_process: bool = False) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak MB of the process tree) of the OCR stage alone;
    ``by_process`` also prints each process's own peak."""
    with ProcessTree() as tree:
        started = time.perf_counter()
        results = ocr_documents([(rel, batch / rel) for rel in index], work, OcrOptions(jobs=cores, engine=policy))
        wall = time.perf_counter() - started
    failed = [r.source_path for r in results if r.status != "done"]
    if failed:
        print(f"warning: {policy}: not done: {failed}")
    if by_process:
        print("    peak by process: " + ", ".join(f"{role} {mb:.0f} MB" for role, mb in tree.roles() if mb > 5))
    return wall, tree.cpu, tree.peak


def ingest(batch: Path, home: Path, policy: str, warm: bool) -> float:
    """Wall seconds of ``juanzong ingest BATCH`` in a fresh home, as a user runs it: ``warm``,
    after another command has started the home's Prefect server and left its runner (a court's
    archive in daily use); else as the home's first command, which starts them."""
    env = {**os.environ, "JUANZONG_HOME": str(home), "JUANZONG_OCR_ENGINE": policy,
           "JUANZONG_PREFECT_SERVER_IDLE_SECONDS": "120"}  # each home's runner leaves soon after
    env.pop("JUANZONG_CONFIG", None)
    subprocess.run([str(JUANZONG), "keys", "init"], env=env, check=True, capture_output=True)
    if warm:
        subprocess.run([str(JUANZONG), "audit"], env=env, check=True, capture_output=True)
        _wait_for_runner(env)
    started = time.perf_counter()
    proc = subprocess.run([str(JUANZONG), "ingest", str(batch)], env=env, capture_output=True)
    wall = time.perf_counter() - started
    stop_shared_server(home / "prefect")  # else it still writes to the home while the folder is removed
    if proc.returncode != 0:
        print(f"warning: {policy}: juanzong ingest exited {proc.returncode}: {proc.stderr.decode()[-400:]}")
    return wall


def _wait_for_runner(env: dict[str, str], patience: float = 120.0) -> None:
    """The runner the warm-up command left behind listens once it has imported everything."""
    path = socket_path(env)
    deadline = time.monotonic() + patience
    while path is not None and not path.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    if path is None or not path.exists():
        print(f"warning: no runner listening after {patience:.0f} s: the 'server up' ingest starts cold")


def memory_by_batch_size(root: Path, sizes: list[int], cores: int, policy: str) -> dict[int, float]:
    peaks = {}
    for pages in sizes:
        batch, index = make_batch(root / f"memory-{pages}", "--pages-total", str(pages), "--seed", "13")
        _wall, _cpu, peaks[pages] = stage(batch, index, root / f"memory-work-{pages}", cores, policy,
                                       by_process=True)
        print(f"  {policy}: OCR stage peak {peaks[pages]:.0f} MB for {pages} pages", flush=True)
    return peaks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--policies", nargs="+", default=["tesseract", "ppocr", "hybrid"])
    parser.add_argument("--memory-pages", type=int, nargs="*", default=[])
    parser.add_argument("--accuracy", type=Path, help="JSON written by ocr_accuracy.py --json")
    parser.add_argument("--no-ingest", action="store_true", help="time the OCR stage only")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="ocr-bench-") as tmp:
        root = Path(tmp)
        batch, index = make_batch(root / "corpus", "--pages-total", str(args.pages), "--seed", "11")
        (root / "img").mkdir()
        images = page_images(batch, index, root / "img")
        print(f"batch: {len(index)} documents, {len(images)} pages, {cores} cores", flush=True)
        floor, floor_wall = tesseract_floor([p for _, _, p in images], cores)
        print(f"floor (Tesseract CPU / cores): {floor:.1f} s (bare Tesseract on all cores: {floor_wall:.1f} s wall)")
        runs: dict[str, dict[str, list[float]]] = {p: {"stage": [], "cpu": [], "peak": [], "ingest": [],
                                                       "cold": []}
                                                   for p in args.policies}
        for repeat in range(args.repeats):
            order = args.policies if repeat % 2 == 0 else args.policies[::-1]
            for policy in order:
                wall, cpu, peak = stage(batch, index, root / f"stage-{policy}-{repeat}", cores, policy)
                for key, value in (("stage", wall), ("cpu", cpu), ("peak", peak)):
                    runs[policy][key].append(value)
                line = (f"  run {repeat + 1} {policy:10} stage {wall:6.1f} s = {wall / floor:.2f} x floor, "
                        f"CPU / cores {cpu / cores:6.1f} s = {cpu / cores / floor:.2f} x floor, peak {peak:.0f} MB")
                if not args.no_ingest:
                    for key, warm in (("ingest", True), ("cold", False)):
                        seconds = ingest(batch, root / f"home-{policy}-{repeat}-{key}", policy, warm)
                        runs[policy][key].append(seconds)
                        line += f"; juanzong ingest ({key}) {seconds:6.1f} s = {seconds / floor:.2f} x floor"
                print(line, flush=True)
        if args.memory_pages:
            memory_by_batch_size(root, args.memory_pages, cores, args.policies[0])
    accuracy = json.loads(args.accuracy.read_text()) if args.accuracy else {}
    rows = {}
    for policy, figures in runs.items():
        if not figures["stage"]:
            continue  # --repeats 0: memory only
        rows[policy] = {**accuracy.get(policy, {}),
                        "s_per_page": statistics.median(figures["stage"]) / len(images),
                        "stage_ratio": statistics.median(figures["stage"]) / floor,
                        "cpu_ratio": statistics.median(figures["cpu"]) / cores / floor,
                        "peak_mb": max(figures["peak"])}
        if figures["ingest"]:
            rows[policy]["ingest_ratio"] = statistics.median(figures["ingest"]) / floor
            rows[policy]["cold_ratio"] = statistics.median(figures["cold"]) / floor
    if rows:
        print_table(rows)


if __name__ == "__main__":
    main()
