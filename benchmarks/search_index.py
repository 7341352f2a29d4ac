"""Benchmark the search backends on synthetic pages: indexing pages/s and query latency
p50/p95 over mixed queries (2- and 4-character words, party names, 案号 filter, reader access).

    .venv/bin/python benchmarks/search_index.py [--pages 100000] [--queries 1000] [--es-url URL]

The baseline, run in the same process, is a linear scan of the page texts (what a search
without an index costs); ratios are backend/baseline. ES is measured only with --es-url.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date
from itertools import accumulate
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _search import add_es_options, es_index  # noqa: E402
from dissemination.search.base import Access, IndexPage, SearchIndex, SearchQuery  # noqa: E402
from dissemination.search.embedded import EmbeddedIndex  # noqa: E402

WORDS = ("原告 被告 诉讼请求 事实与理由 本院认为 判决如下 合同 借款 利息 违约金 买卖合同纠纷 民间借贷 "
         "劳动争议 证据 质证 庭审 上诉 驳回 支付 货款 逾期 履行 当事人 代理人 委托 送达 法院 审理 "
         "物业 服务费 租赁 房屋 工资 赔偿 损失 鉴定 发票 转账 银行 担保 保证 责任 连带 清偿").split()
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建国海燕志文斌婷"
COURTS = [f"广州市{n}区人民法院" for n in ("越秀", "海珠", "荔湾", "天河", "白云", "黄埔", "番禺", "花都")]
PAGES_PER_CASE = 50
HAN_POOL = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]


def vocabulary(seed: int = 3, size: int = 6000) -> list[str]:
    """Legal words plus generated 2-4 character words: real pages share a few common words
    and differ in most (a 46-word vocabulary would put every word on every page)."""
    rng = random.Random(seed)
    return list(WORDS) + ["".join(rng.choice(HAN_POOL) for _ in range(rng.choice((2, 2, 3, 4))))
                          for _ in range(size)]


VOCAB = vocabulary()
CUM_ZIPF = list(accumulate(1 / (rank + 1) for rank in range(len(VOCAB))))


def name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))


def case_number(i: int) -> str:
    return f"（2023）粤01{i % 20:02d}民初{i}号"


def synthetic_pages(n: int, seed: int = 1) -> Iterator[IndexPage]:
    """``n`` pages, 50 per case, ~600 characters each, parties named in the text."""
    rng = random.Random(seed)
    for c in range(n // PAGES_PER_CASE + 1):
        parties = (name(rng), name(rng))
        court = rng.choice(COURTS)
        for p in range(PAGES_PER_CASE):
            if c * PAGES_PER_CASE + p >= n:
                return
            doc = p // 10
            body = "，".join("".join(rng.choices(VOCAB, cum_weights=CUM_ZIPF, k=rng.randint(2, 5))) for _ in range(40))
            text = f"{case_number(c)}\n原告{parties[0]}诉被告{parties[1]}\n{body}。"
            yield IndexPage(
                aip_id=f"aip-{c}", case_number=case_number(c), document_id=f"doc-{c}-{doc}",
                source_path=f"case-{c}/{doc:02d}.pdf", title=rng.choice(["民事起诉状", "证据材料", "庭审笔录"]),
                page=p % 10 + 1, text=text, court=court, case_type="民事", cause_of_action="买卖合同纠纷",
                volume="副卷" if doc == 4 else "正卷", disclosable=doc != 4, doc_type="证据材料",
                parties=parties, filing_date=date(2023, 1, 1), closing_date=None)


def mixed_queries(n: int, cases: int, seed: int = 2) -> list[SearchQuery]:
    """A quarter each: 2-char word, 4-char phrase, party name, reader of one case."""
    rng = random.Random(seed)
    archivist = Access(all_cases=True, readers_view=False)
    four = [w for w in VOCAB[:2000] if len(w) == 4]
    two = [w for w in VOCAB[:2000] if len(w) == 2]
    out = []
    for i in range(n):
        kind = i % 4
        if kind == 0:
            out.append(SearchQuery(text=rng.choice(two), access=archivist))
        elif kind == 1:
            out.append(SearchQuery(text=rng.choice(four), access=archivist))
        elif kind == 2:
            out.append(SearchQuery(text=name(rng), access=archivist))
        else:
            case = case_number(rng.randrange(cases))
            out.append(SearchQuery(text=rng.choice(two), access=Access(case_numbers=(case,))))
    return out


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def latency(index_search: Callable[[SearchQuery], object], queries: list[SearchQuery]) -> tuple[float, float, float]:
    """p50, p95 and the slowest query, in ms."""
    times = sorted(timed(lambda q=q: index_search(q)) for q in queries)
    return statistics.median(times), times[int(len(times) * 0.95) - 1], times[-1]


def run(label: str, index: SearchIndex, pages: int, queries: list[SearchQuery]) -> tuple[float, float, float]:
    index.reset()
    t = time.perf_counter()
    generated = sum(1 for _ in synthetic_pages(pages))
    generating = time.perf_counter() - t
    t = time.perf_counter()
    report = index.index_pages(synthetic_pages(pages))
    rate = report.indexed / (time.perf_counter() - t - generating)  # page generation not counted
    for q in queries[:20]:
        index.search(q)  # warm caches
    p50, p95, worst = latency(index.search, queries)
    print(f"{label:<24} index {rate:8.0f} pages/s   query p50 {p50:6.2f} ms  p95 {p95:6.2f} ms"
          f"  max {worst:6.1f} ms   ({report.indexed} pages, {len(report.errors)} errors)")
    return rate, p50, p95


def baseline(pages: int, queries: list[SearchQuery]) -> tuple[float, float]:
    """A linear scan over the texts, for a sample of the queries."""
    texts = [(p.case_number, p.text) for p in synthetic_pages(pages)]

    def scan(q: SearchQuery) -> int:
        allowed = None if q.access.all_cases else set(q.access.case_numbers)
        return sum(q.text in t for c, t in texts if allowed is None or c in allowed)

    p50, p95, _ = latency(scan, queries[:100])
    print(f"{'baseline: linear scan':<24} {'':22}   query p50 {p50:6.2f} ms  p95 {p95:6.2f} ms")
    return p50, p95


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=1000)
    add_es_options(ap)
    args = ap.parse_args()
    queries = mixed_queries(args.queries, args.pages // PAGES_PER_CASE)
    base_p50, _ = baseline(args.pages, queries)
    with tempfile.TemporaryDirectory() as tmp:
        _, p50, p95 = run("embedded (tantivy)", EmbeddedIndex(Path(tmp)), args.pages, queries)
        print(f"{'':24} p50 is {base_p50 / p50:.1f}x the scan speed; goal p95 <= 20 ms: "
              f"{'met' if p95 <= 20 else 'NOT met'}")
    if args.es_url:
        with es_index(args, "bench") as index:
            _, p50, p95 = run(f"elasticsearch ({args.es_analyzer})", index, args.pages, queries)
        print(f"{'':24} p50 is {base_p50 / p50:.1f}x the scan speed; goal p95 <= 50 ms: "
              f"{'met' if p95 <= 50 else 'NOT met'}")


if __name__ == "__main__":
    main()
