"""Shared helpers for the OCR benchmarks: generate a corpus batch, list its files and truth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"


def make_batch(out: Path, *args: str) -> tuple[Path, dict]:
    """Run the shared generator; return the batch folder and the ground-truth index."""
    script = SHARED / "corpus" / "make_corpus.py"
    if not script.is_file():
        sys.exit(f"{script}: shared corpus generator not found")
    subprocess.run([sys.executable, str(script), str(out), *args], check=True, stdout=subprocess.DEVNULL)
    batch = sorted(p for p in out.iterdir() if p.is_dir() and p.name != "ground_truth")[0]
    return batch, json.loads((out / "ground_truth" / "index.json").read_text(encoding="utf-8"))


def page_images(batch: Path, index: dict, out: Path) -> list[tuple[str, int, Path]]:
    """Every page's scanned image extracted unchanged (JPEG), for bare Tesseract."""
    import pikepdf

    found = []
    for rel in index:
        with pikepdf.open(batch / rel) as pdf:
            for number, page in enumerate(pdf.pages, 1):
                image = pikepdf.PdfImage(next(iter(page.images.values())))
                prefix = out / f"{len(found):04d}"
                found.append((rel, number, Path(image.extract_to(fileprefix=str(prefix)))))
    return found
