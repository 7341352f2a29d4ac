"""Known-item recall of the search backends on a generated batch larger than the test's: for
each document, query its rarest 2-, 3- and 4-character Han phrase (fewest documents containing
it) and count the documents found among the top 10 hits (recall@10; goal >= 98 %).

    .venv/bin/python benchmarks/search_recall.py [--cases 20] [--seed 11] [--es-url URL]

Pages carry their ground-truth text, not OCR output: this measures the index and its query
analysis, not OCR (benchmarks/ocr_accuracy.py measures that). The baseline, computed in the
same process by scanning the texts, is what any index that matches phrases exactly is sure to
reach: the share of documents whose phrase occurs in at most 10 documents (a phrase shared by
more may leave its own document out of the top 10, whatever the ranking).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _corpus import make_batch  # noqa: E402
from _search import add_es_options, es_index  # noqa: E402
from dissemination.search.base import Access, IndexPage, SearchIndex, SearchQuery, join_han_lines  # noqa: E402
from dissemination.search.embedded import EmbeddedIndex  # noqa: E402
from tests.search.corpus import corpus_pages, known_item_phrases  # noqa: E402

ARCHIVIST = Access(all_cases=True, readers_view=False)
LENGTHS = (2, 3, 4)
TOP = 10


def reachable(pages: list[IndexPage], phrases: dict[str, str]) -> float:
    """Share of documents whose phrase is in at most ``TOP`` documents."""
    docs: dict[str, str] = {}
    for p in pages:
        docs[p.document_id] = docs.get(p.document_id, "") + join_han_lines(p.text) + "\n" + p.title
    df = Counter(phrase for phrase in phrases.values() for text in docs.values() if phrase in text)
    return sum(df[phrase] <= TOP for phrase in phrases.values()) / len(phrases)


def recall(index: SearchIndex, phrases: dict[str, str]) -> float:
    found = sum(doc in {h.document_id for h in index.search(SearchQuery(text=phrase, access=ARCHIVIST,
                                                                          size=TOP)).hits}
                for doc, phrase in phrases.items())
    return found / len(phrases)


def run(label: str, index: SearchIndex, pages: list[IndexPage], queries: dict[int, dict[str, str]]) -> None:
    index.reset()
    report = index.index_pages(pages)
    assert report.indexed == len(pages) and not report.errors, report.errors[:3]
    cells = []
    for length, phrases in queries.items():
        r = recall(index, phrases)
        cells.append(f"{length} chars {r:6.1%}{'' if r >= 0.98 else ' (< 98 %)'}")
    print(f"{label:<24} recall@{TOP}: " + "   ".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=20)
    ap.add_argument("--seed", type=int, default=11)
    add_es_options(ap)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        make_batch(Path(tmp) / "out", "--cases", str(args.cases), "--seed", str(args.seed))
        sys.stderr.flush()
        pages = corpus_pages(Path(tmp) / "out")
        queries = {n: known_item_phrases(pages, n) for n in LENGTHS}
        print(f"{args.cases} cases, {len({p.document_id for p in pages})} documents, {len(pages)} pages "
              f"(ground-truth text), generated in {time.perf_counter() - t:.0f} s")
        print(f"{'baseline: phrase in <=10 docs':<24} recall@{TOP}: "
              + "   ".join(f"{n} chars {reachable(pages, q):6.1%}" for n, q in queries.items()))
        run("embedded (tantivy)", EmbeddedIndex(Path(tmp) / "index"), pages, queries)
    if args.es_url:
        with es_index(args, "recall") as index:
            run(f"elasticsearch ({args.es_analyzer})", index, pages, queries)


if __name__ == "__main__":
    main()
