"""The contract suite's fixtures: real pages from the shared corpus generator (ground-truth text
stands in for OCR) and one ``index`` fixture parametrised over both backends.

The Elasticsearch params need a real node: set JUANZONG_TEST_ES_URL (``.ci/run`` starts one
with scripts/elasticsearch/start.sh). Each ES test gets its own index prefix."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dissemination.search.base import IndexPage, SearchIndex
from dissemination.search.embedded import EmbeddedIndex
from tests.conftest import make_corpus
from tests.search.corpus import corpus_pages

ES_URL_ENV = "JUANZONG_TEST_ES_URL"


@pytest.fixture(scope="session")
def corpus_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated batch of two cases with its ground truth (the generator's ``out`` folder)."""
    out = tmp_path_factory.mktemp("search-corpus") / "out"
    make_corpus(out, "--cases", "2", "--seed", "1")
    return out


@pytest.fixture(scope="session")
def pages(corpus_out: Path) -> list[IndexPage]:
    return corpus_pages(corpus_out)


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


def lose_index(index: SearchIndex) -> None:
    """Fault injection: the index's storage is gone (the folder removed, every ES index deleted)."""
    if isinstance(index, EmbeddedIndex):
        shutil.rmtree(index.index_dir)
        return
    for name in index.es.indices.get(index=f"{index.alias}-*"):
        index.es.indices.delete(index=name)


def damage_index(index: SearchIndex) -> None:
    """Fault injection: the index is there but unusable (tantivy's metadata overwritten; the ES
    alias removed while its index stays)."""
    if isinstance(index, EmbeddedIndex):
        (index.live_path / "meta.json").write_text("{ not json", encoding="utf-8")
        return
    index.es.indices.delete_alias(index=f"{index.alias}-*", name=index.alias)
