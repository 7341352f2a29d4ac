"""PRONOM identification: siegfried against fido on the same files (speed and correctness);
then veraPDF on the PDF/A copies, one JVM for all against one JVM per file.

    .venv/bin/pip install -e '.[bench]'        # fido (opf-fido) is only needed here
    .venv/bin/python benchmarks/format_identification.py [--cases N] [--runs N]

The files are what the archive holds: the corpus generator's image PDFs (PDF 1.3) and
multi-page TIFFs, the page JPEGs inside those PDFs, PDF/A-2b copies made the way the OCR stage
makes them (pikepdf), page texts and the JSON manifest. Each file's right answer follows from
how it was made (PDF header version -> fmt/14..20, PDF/A-2b -> fmt/477, TIFF -> fmt/353,
JFIF 1.01 -> fmt/43, text -> x-fmt/111, JSON -> fmt/817). Each tool runs once over all the
files (one process: how the archive calls it); times are the best of ``--runs``, warm cache.
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pikepdf  # noqa: E402

from benchmarks._corpus import make_batch  # noqa: E402
from ingest._exec import siegfried, verapdf  # noqa: E402

PDF_VERSIONS = {"1.2": "fmt/16", "1.3": "fmt/17", "1.4": "fmt/18", "1.5": "fmt/19", "1.6": "fmt/20",
                "1.7": "fmt/276"}


def _pdf_truth(path: Path) -> str:
    return PDF_VERSIONS[path.read_bytes()[5:8].decode()]


def build_files(work: Path, cases: int) -> dict[Path, str]:
    """Generate the corpus and derive the other kinds; return file -> right PUID."""
    pdf_batch, _ = make_batch(work / "pdf", "--cases", str(cases), "--seed", "11")
    tiff_batch, _ = make_batch(work / "tiff", "--cases", str(max(1, cases // 2)), "--seed", "12", "--format", "tiff")
    truth: dict[Path, str] = {}
    for pdf in sorted(pdf_batch.rglob("*.pdf")):
        truth[pdf] = _pdf_truth(pdf)
    for tif in sorted(tiff_batch.rglob("*.tif")):
        truth[tif] = "fmt/353"
    derived = work / "derived"
    derived.mkdir()
    for n, pdf in enumerate(sorted(pdf_batch.rglob("*.pdf"))):
        with pikepdf.open(pdf) as doc:
            if n % 2 == 0:
                out = derived / f"{n:03d}.pdfa.pdf"
                pikepdf.pdfa.save(doc, out, "2b", output_intent="sRGB", deterministic_id=True)
                truth[out] = "fmt/477"
            image = pikepdf.PdfImage(next(iter(doc.pages[0].get_images().values())))
            jpeg = Path(image.extract_to(fileprefix=str(derived / f"{n:03d}-page1")))
            truth[jpeg] = "fmt/43"
    for text in sorted((work / "pdf" / "ground_truth").rglob("*.txt"))[:40]:
        if text.stat().st_size:
            truth[text] = "x-fmt/111"
    for manifest in (pdf_batch / "manifest.json", tiff_batch / "manifest.json"):
        truth[manifest] = "fmt/817"
    return truth


def run_siegfried(files: list[Path]) -> dict[Path, str]:
    return {p: i.puid for p, i in siegfried.identify(files).items()}


def run_fido(files: list[Path]) -> dict[Path, str]:
    fido = shutil.which("fido", path=str(Path(sys.executable).parent))
    if fido is None:
        sys.exit("fido not installed: .venv/bin/pip install -e '.[bench]'")
    out = subprocess.run([fido, "-q", "-matchprintf", "%(info.filename)s\t%(info.puid)s\n",
                          "-nomatchprintf", "%(info.filename)s\tUNKNOWN\n", *map(str, files)],
                         check=True, capture_output=True).stdout.decode()
    found: dict[Path, str] = {}
    for name, puid in csv.reader(io.StringIO(out), delimiter="\t"):
        found.setdefault(Path(name).absolute(), puid)  # fido may list several matches: keep its first
    return found


def best_of(runs: int, work, files: list[Path]) -> tuple[float, dict[Path, str]]:
    times, answer = [], {}
    for _ in range(runs):
        start = time.perf_counter()
        answer = work(files)
        times.append(time.perf_counter() - start)
    return min(times), answer


def report(name: str, seconds: float, answer: dict[Path, str], truth: dict[Path, str], baseline: float) -> None:
    wrong = Counter((truth[p], answer.get(p, "none")) for p in truth if answer.get(p) != truth[p])
    right = len(truth) - sum(wrong.values())
    print(f"{name:10s} {seconds:7.2f} s  {len(truth) / seconds:7.1f} files/s  {seconds / baseline:5.2f}x  "
          f"correct {right}/{len(truth)} ({100 * right / len(truth):.1f} %)")
    for (expected, got), count in wrong.most_common():
        print(f"{'':12s}{count:4d} x expected {expected}, got {got}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jz-formats-") as tmp:
        truth = {p.absolute(): puid for p, puid in build_files(Path(tmp), args.cases).items()}
        files = sorted(truth)
        size = sum(p.stat().st_size for p in files)
        kinds = Counter(truth.values())
        print(f"{len(files)} files, {size / 1e6:.0f} MB: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
        print(f"{siegfried.version()}; fido from opf-fido")
        sf_time, sf_answer = best_of(args.runs, run_siegfried, files)
        fido_time, fido_answer = best_of(args.runs, run_fido, files)
        report("siegfried", sf_time, sf_answer, truth, sf_time)
        report("fido", fido_time, fido_answer, truth, sf_time)
        time_verapdf([p for p in files if truth[p] == "fmt/477"])


def time_verapdf(pdfs: list[Path]) -> None:
    """The reason for one JVM per batch: its start dominates a small file's validation."""
    start = time.perf_counter()
    verdicts = verapdf.validate(pdfs)
    batch = time.perf_counter() - start
    sample = pdfs[:3]
    start = time.perf_counter()
    for pdf in sample:
        verapdf.validate([pdf])
    single = (time.perf_counter() - start) / len(sample)
    compliant = sum(v.compliant for v in verdicts.values())
    print(f"veraPDF {verapdf.version()}: {len(pdfs)} PDF/A-2b in one JVM {batch:.1f} s ({compliant} compliant); "
          f"one JVM per file {single:.1f} s each, {single * len(pdfs):.1f} s for all ({single * len(pdfs) / batch:.1f}x)")


if __name__ == "__main__":
    main()
