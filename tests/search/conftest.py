"""The contract suite's fixtures: real pages from the shared corpus generator (ground-truth text
stands in for OCR) and one ``index`` fixture parametrised over both backends.

The Elasticsearch params need a real node: set JUANZONG_TEST_ES_URL (``.ci/run`` starts one
with scripts/elasticsearch/start.sh). Each ES test gets its own index prefix."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive.records import aip_id_for, document_id_for
from dissemination.search.base import IndexPage, SearchIndex
from dissemination.search.embedded import EmbeddedIndex
from ingest.manifest import read_manifest
from tests.conftest import make_corpus

ES_URL_ENV = "JUANZONG_TEST_ES_URL"


def corpus_pages(out: Path) -> list[IndexPage]:
    """Every page of a generated batch, with its ground-truth text, in manifest order."""
    batch = sorted(p for p in out.iterdir() if p.is_dir() and p.name != "ground_truth")[0]
    manifest = read_manifest(batch)
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


@pytest.fixture(scope="session")
def pages(tmp_path_factory: pytest.TempPathFactory) -> list[IndexPage]:
    out = tmp_path_factory.mktemp("search-corpus") / "out"
    make_corpus(out, "--cases", "2", "--seed", "1")
    return corpus_pages(out)


def es_client():
    url = os.environ.get(ES_URL_ENV)
    if not url:
        pytest.skip(f"Elasticsearch backend: set {ES_URL_ENV} to a real node "
                    "(scripts/elasticsearch/start.sh prints one)")
    from dissemination.search.elasticsearch import connect

    return connect(url)


def _open(kind: str, tmp_path: Path) -> tuple[SearchIndex, object]:
    if kind == "embedded":
        return EmbeddedIndex(tmp_path / "index"), None
    from dissemination.search.elasticsearch import ElasticsearchIndex

    client = es_client()
    analyzer = kind.split(":", 1)[1]
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    return ElasticsearchIndex(client, prefix=prefix, analyzer=analyzer), (client, prefix)


@pytest.fixture(params=["embedded", "elasticsearch:standard", "elasticsearch:cjk"])
def empty_index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SearchIndex]:
    """An empty index of each backend (ES with the default and the ``cjk`` analyzer)."""
    index, es = _open(request.param, tmp_path)
    yield index
    if es is not None:
        client, prefix = es
        for name in client.indices.get(index=f"{prefix}-pages-*", allow_no_indices=True):
            client.indices.delete(index=name)


@pytest.fixture
def index(empty_index: SearchIndex, pages: list[IndexPage]) -> SearchIndex:
    report = empty_index.index_pages(pages)
    assert report.indexed == len(pages) and not report.errors
    return empty_index
