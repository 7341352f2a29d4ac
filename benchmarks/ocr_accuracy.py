"""OCR accuracy (issue 7): weighted and per-page CER, bare Tesseract vs our stage, at 200 and 300 dpi.

    .venv/bin/python benchmarks/ocr_accuracy.py [--cases 2] [--dpi 200 300] [--seed 21]

CER as in the corpus README (NFKC, whitespace removed); weighted = total edits / total
reference characters. Seal pages are reported apart.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._corpus import make_batch, page_images  # noqa: E402
from ingest.ocr import OcrOptions, ocr_documents  # noqa: E402
from ingest.ocr.quality import char_errors  # noqa: E402


def bare(images: list[tuple[str, int, Path]], dpi: int, cores: int) -> dict[tuple[str, int], str]:
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}

    def one(item: tuple[str, int, Path]) -> str:
        return subprocess.run(["tesseract", str(item[2]), "-", "-l", "chi_sim", "--dpi", str(dpi)],
                              capture_output=True, env=env, check=True).stdout.decode()

    with ThreadPoolExecutor(cores) as pool:
        texts = list(pool.map(one, images))
    return {(rel, n): text for (rel, n, _), text in zip(images, texts, strict=True)}


def ours(batch: Path, index: dict, work: Path, cores: int) -> dict[tuple[str, int], str]:
    results = ocr_documents([(rel, batch / rel) for rel in index], work, OcrOptions(jobs=cores))
    return {(r.source_path, p.page): p.text for r in results for p in r.pages}


def report(label: str, texts: dict, truth: dict, seal: set) -> None:
    for subset, keys in (("all", list(truth)), ("seal", [k for k in truth if k in seal])):
        counts = [char_errors(truth[k], texts.get(k, "")) for k in keys]
        if not counts:
            continue
        per_page = [e / max(1, n) for e, n in counts]
        weighted = sum(e for e, _ in counts) / max(1, sum(n for _, n in counts))
        print(f"  {label:6} {subset:4} pages={len(keys):3}  weighted={weighted:6.2%}  mean={statistics.mean(per_page):6.2%}"
              f"  median={statistics.median(per_page):6.2%}  worst={max(per_page):6.2%}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=2)
    parser.add_argument("--dpi", type=int, nargs="+", default=[200, 300])
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    for dpi in args.dpi:
        with tempfile.TemporaryDirectory(prefix="ocr-acc-") as tmp:
            root = Path(tmp)
            corpus = root / "corpus"
            batch, index = make_batch(corpus, "--cases", str(args.cases), "--seed", str(args.seed), "--dpi", str(dpi))
            truth = {(rel, p["page"]): (corpus / "ground_truth" / p["text"]).read_text(encoding="utf-8")
                     for rel, pages in index.items() for p in pages}
            seal = {(rel, p["page"]) for rel, pages in index.items() for p in pages if p["seal"]}
            (root / "img").mkdir()
            print(f"{dpi} dpi: {len(index)} documents, {len(truth)} pages ({len(seal)} with a seal)")
            report("bare", bare(page_images(batch, index, root / "img"), dpi, cores), truth, seal)
            report("ours", ours(batch, index, root / "work", cores), truth, seal)


if __name__ == "__main__":
    main()
