"""Benchmark: watermark + seal a 100-page document against a bare pikepdf overlay of the same stamp.

    .venv/bin/python benchmarks/watermark_seal.py [--pages 100] [--source some.pdf]

The document is a real scanned batch from the shared corpus generator, merged into one PDF
(a synthetic reportlab text document when the generator is absent). The baseline opens the
same file, lays the same pre-rendered stamp over every page with ``Page.add_overlay`` and
saves; the measured run is ``watermark_pdf`` (stamp rendering included) then ``seal_pdf``.
Goal (issue 5): at most 1.5x the baseline and 3 s.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pikepdf
from reportlab.pdfgen.canvas import Canvas

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dissemination import trace, watermark  # noqa: E402
from dissemination.seal import ensure_dissemination_keys, seal_pdf  # noqa: E402
from dissemination.watermark import WatermarkSpec, mask_id, stamp_bytes, watermark_pdf  # noqa: E402

MAKE_CORPUS = ROOT / ".." / "shared" / "corpus" / "make_corpus.py"


def corpus_document(pages: int, work: Path) -> Path:
    """Merge a generated batch of exactly ``pages`` scanned pages into one PDF."""
    out = work / "corpus"
    subprocess.run([sys.executable, str(MAKE_CORPUS), str(out), "--pages-total", str(pages), "--seed", "3"],
                   check=True, capture_output=True)
    merged = pikepdf.new()
    for pdf in sorted(out.glob("*/*/*.pdf")):
        with pikepdf.open(pdf) as part:
            merged.pages.extend(part.pages)
    dest = work / "document.pdf"
    merged.save(dest)
    return dest


def synthetic_document(pages: int, work: Path) -> Path:
    dest = work / "document.pdf"
    canvas = Canvas(str(dest))
    for n in range(pages):
        for line in range(40):
            canvas.drawString(72, 770 - line * 17, f"page {n + 1} line {line + 1} " + "lorem ipsum " * 6)
        canvas.showPage()
    canvas.save()
    return dest


def bare_overlay(src: Path, dest: Path, stamp: bytes) -> None:
    with pikepdf.open(src) as pdf, pikepdf.open(io.BytesIO(stamp)) as stamp_pdf:
        form = pdf.copy_foreign(stamp_pdf.pages[0].as_form_xobject())
        for page in pdf.pages:
            page.add_overlay(form, pikepdf.Rectangle(page.trimbox))
        pdf.save(dest)


def best_of(runs: int, action) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--source", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.source:
            src, kind = args.source, "given"
        elif MAKE_CORPUS.is_file():
            src, kind = corpus_document(args.pages, work), "scanned corpus"
        else:
            src, kind = synthetic_document(args.pages, work), "synthetic text"
        issued = datetime(2024, 5, 1, 1, 30, tzinfo=UTC)
        spec = WatermarkSpec(reader_name="叶英霞", reader_id_masked=mask_id("440103197912222756"),
                             case_number="（2023）粤0114民初6749号", request_id="REQ-BENCH-0001", issued_at=issued,
                             trace_id=trace.trace_id_for("REQ-BENCH-0001", issued))
        key, cert = ensure_dissemination_keys(work / "k.key", work / "k.pem", "广州市中级人民法院电子阅卷")
        watermark.register_fonts()
        stamp = stamp_bytes(spec, watermark.A4)

        def ours() -> None:
            stamp_bytes.cache_clear()
            marked = watermark_pdf(src, work / "marked.pdf", spec)
            seal_pdf(marked, work / "sealed.pdf", key_path=key, cert_path=cert, reason="电子阅卷", location="广州")

        baseline = best_of(args.runs, lambda: bare_overlay(src, work / "bare.pdf", stamp))
        only_mark = best_of(args.runs, lambda: (stamp_bytes.cache_clear(), watermark_pdf(src, work / "m.pdf", spec)))
        measured = best_of(args.runs, ours)
        with pikepdf.open(src) as pdf:
            pages = len(pdf.pages)
        size_mb = src.stat().st_size / 1e6
        print(f"document: {pages} pages, {size_mb:.1f} MB ({kind}); best of {args.runs} runs")
        print(f"bare pikepdf overlay (baseline): {baseline:.3f} s")
        print(f"watermark_pdf only:              {only_mark:.3f} s  ratio {only_mark / baseline:.2f}x")
        print(f"watermark_pdf + seal_pdf:        {measured:.3f} s  ratio {measured / baseline:.2f}x "
              f"(goal <= 1.5x and <= 3 s: {'met' if measured / baseline <= 1.5 and measured <= 3 else 'NOT met'})")


if __name__ == "__main__":
    main()
