"""OCR accuracy (issues 7 and 18): each policy's CER against the ground truth, on held-out seeds.

    .venv/bin/python benchmarks/ocr_accuracy.py [--cases 2] [--seeds 31 41] [--dpi 200]
        [--policies tesseract ppocr hybrid] [--bare]

One table row per policy: weighted CER (NFKC, whitespace removed; total edits / total
reference characters), the same on seal pages, CER on the tokens readers search for (案号,
party names, ID numbers and credit codes, each found as the closest stretch of the page's
text), and CPU seconds per page (worker processes, i.e. the engines' own cost). Tuning used
seeds 5 and 21; the defaults here are held out.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._corpus import make_batch, page_images  # noqa: E402
from benchmarks._ocr_table import print_table  # noqa: E402
from benchmarks._proc import ProcessTree  # noqa: E402
from ingest.ocr import OcrOptions, ocr_documents  # noqa: E402
from ingest.ocr.quality import char_errors, token_errors  # noqa: E402


def bare(images: list[tuple[str, int, Path]], dpi: int, cores: int) -> dict[tuple[str, int], str]:
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}

    def one(item: tuple[str, int, Path]) -> str:
        return subprocess.run(["tesseract", str(item[2]), "-", "-l", "chi_sim", "--dpi", str(dpi)],
                              capture_output=True, env=env, check=True).stdout.decode()

    with ThreadPoolExecutor(cores) as pool:
        texts = list(pool.map(one, images))
    return {(rel, n): text for (rel, n, _), text in zip(images, texts, strict=True)}


def run_policy(batch: Path, index: dict, work: Path, cores: int, policy: str) -> tuple[dict, float]:
    """Page texts and the CPU seconds of the stage's worker processes (and their Tesseracts)."""
    with ProcessTree() as tree:
        results = ocr_documents([(rel, batch / rel) for rel in index], work, OcrOptions(jobs=cores, engine=policy))
    return {(r.source_path, p.page): p.text for r in results for p in r.pages}, tree.cpu


def search_tokens(batch: Path) -> list[str]:
    """案号, party names, ID numbers and credit codes from the batch's manifest."""
    manifest = json.loads((batch / "manifest.json").read_text(encoding="utf-8"))
    tokens = set()
    for case in manifest["cases"]:
        tokens.add(case["case_number"])
        for party in case["parties"]:
            tokens.update(v for k in ("name", "id_number", "credit_code") if (v := party.get(k)))
    return sorted(tokens)


def scores(texts: dict, truth: dict, seal: set, tokens: list[str]) -> dict[str, tuple[int, int]]:
    """(edits, reference characters) for all pages, seal pages and search tokens."""
    def total(counts) -> tuple[int, int]:
        counts = list(counts)
        return sum(e for e, _ in counts), sum(n for _, n in counts)

    return {"all": total(char_errors(truth[k], texts.get(k, "")) for k in truth),
            "seal": total(char_errors(truth[k], texts.get(k, "")) for k in truth if k in seal),
            "tokens": total(token_errors([t for t in tokens if t in ref], texts.get(k, "")) for k, ref in truth.items())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=2)
    parser.add_argument("--dpi", type=int, default=200)
    parser.add_argument("--seeds", type=int, nargs="+", default=[31, 41])
    parser.add_argument("--policies", nargs="+", default=["tesseract", "ppocr", "hybrid"])
    parser.add_argument("--bare", action="store_true", help="also bare Tesseract on the unprepared scans")
    parser.add_argument("--json", type=Path, help="also write the rows here, for ocr_throughput.py --accuracy")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    rows: dict[str, list] = {}
    with tempfile.TemporaryDirectory(prefix="ocr-acc-") as tmp:
        root = Path(tmp)
        for seed in args.seeds:
            corpus = root / f"corpus-{seed}"
            batch, index = make_batch(corpus, "--cases", str(args.cases), "--seed", str(seed), "--dpi", str(args.dpi))
            truth = {(rel, p["page"]): (corpus / "ground_truth" / p["text"]).read_text(encoding="utf-8")
                     for rel, pages in index.items() for p in pages}
            seal = {(rel, p["page"]) for rel, pages in index.items() for p in pages if p["seal"]}
            tokens = search_tokens(batch)
            print(f"seed {seed}, {args.dpi} dpi: {len(index)} documents, {len(truth)} pages ({len(seal)} with a seal)",
                  flush=True)
            if args.bare:
                (root / f"img-{seed}").mkdir()
                texts = bare(page_images(batch, index, root / f"img-{seed}"), args.dpi, cores)
                rows.setdefault("bare tesseract", []).append((scores(texts, truth, seal, tokens), None, len(truth)))
            for policy in args.policies:
                texts, cpu = run_policy(batch, index, root / f"work-{seed}-{policy}", cores, policy)
                rows.setdefault(policy, []).append((scores(texts, truth, seal, tokens), cpu, len(truth)))
    table = table_rows(rows)
    print_table(table)
    if args.json:
        args.json.write_text(json.dumps(table, indent=1))


def table_rows(rows: dict[str, list]) -> dict[str, dict[str, float]]:
    """Edits over reference characters summed over the seeds; CPU over pages."""
    out = {}
    for policy, runs in rows.items():
        pages = sum(n for _, _, n in runs)
        out[policy] = {name: sum(s[k][0] for s, _, _ in runs) / max(1, sum(s[k][1] for s, _, _ in runs))
                       for k, name in (("all", "cer"), ("seal", "seal_cer"), ("tokens", "token_cer"))}
        if runs[0][1] is not None:
            out[policy]["cpu_per_page"] = sum(c for _, c, _ in runs) / pages
    return out


if __name__ == "__main__":
    main()
