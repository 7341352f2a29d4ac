"""Index pages and known-item queries from a batch of the shared corpus generator, with each
page's ground-truth text standing in for OCR (so they measure the index, not OCR). Used by the
contract suite and by benchmarks/search_recall.py."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from archive.records import aip_id_for, document_id_for
from dissemination.search.base import IndexPage, join_han_lines
from ingest.manifest import read_manifest


def batch_of(out: Path) -> Path:
    """The batch folder inside the generator's ``out`` folder (beside ``ground_truth/``)."""
    return sorted(p for p in out.iterdir() if p.is_dir() and p.name != "ground_truth")[0]


def corpus_pages(out: Path) -> list[IndexPage]:
    """Every page of a generated batch, with its ground-truth text, in manifest order."""
    manifest = read_manifest(batch_of(out))
    truth = json.loads((out / "ground_truth" / "index.json").read_text(encoding="utf-8"))
    pages = []
    for entry in manifest.files:
        case = manifest.case(entry.case_number)
        for rec in truth[entry.path]:
            pages.append(IndexPage(
                aip_id=aip_id_for(case.case_number), case_number=case.case_number,
                document_id=document_id_for(case.case_number, entry.path), source_path=entry.path,
                title=entry.document.title, page=rec["page"],
                text=(out / "ground_truth" / rec["text"]).read_text(encoding="utf-8"),
                court=case.court, case_type=case.case_type, cause_of_action=case.cause_of_action,
                volume=entry.document.volume, disclosable=entry.document.disclosable,
                doc_type=entry.document.doc_type, parties=tuple(p.name for p in case.parties),
                filing_date=case.filing_date, closing_date=case.closing_date))
    return pages


def known_item_phrases(pages: list[IndexPage], length: int = 4) -> dict[str, str]:
    """Per document, its rarest ``length``-character Han phrase (fewest documents containing it;
    ties by code point), as someone who remembers a distinctive phrase would search."""
    texts: dict[str, str] = {}
    for p in pages:
        texts[p.document_id] = texts.get(p.document_id, "") + "\n" + join_han_lines(p.text)
    grams = {d: {run[i:i + length] for run in re.findall(rf"[\u4e00-\u9fff]{{{length},}}", t)
                 for i in range(len(run) - length + 1)} for d, t in texts.items()}
    df = Counter(g for gs in grams.values() for g in gs)
    return {d: min(sorted(gs), key=lambda g: df[g]) for d, gs in grams.items() if gs}
