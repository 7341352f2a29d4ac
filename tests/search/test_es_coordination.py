"""Elasticsearch set-up shared by processes that start together, and pages the index refuses."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive.signing import ensure_dev_keys
from config import Settings
from dissemination.search.base import Access, IndexPage, SearchQuery
from dissemination.search.elasticsearch import ElasticsearchIndex, index_body
from flows.indexing import queued
from ingest.sample import write_sample_batch
from schemas.errors import Unavailable
from tests.search.conftest import ES_URL_ENV, es_client

EVERYTHING = Access(all_cases=True, readers_view=False)


@pytest.fixture
def es_prefix() -> Iterator[str]:
    """A fresh index prefix on the test node; its indices are deleted afterwards."""
    client = es_client()
    prefix = f"test-coord-{uuid.uuid4().hex[:10]}"
    yield prefix
    for name in client.indices.get(index=f"{prefix}-pages*", allow_no_indices=True, expand_wildcards="all"):
        client.indices.delete(index=name)


class _RacingFirstUser(ElasticsearchIndex):
    """A process that looked for the alias just before another one created it: its first look
    sees no alias, as two processes starting at once on a new cluster both do."""

    looked = False

    def _aliases(self) -> dict[str, bool]:
        if not self.looked:
            self.looked = True
            return {}
        return super()._aliases()


def _write_indices(client, alias: str) -> dict[str, bool]:
    return {name: bool(entry["aliases"][alias].get("is_write_index"))
            for name, entry in client.indices.get_alias(name=alias).items()}


def test_first_users_racing_share_one_write_index(es_prefix: str, pages: list[IndexPage]):
    client = es_client()
    first = ElasticsearchIndex(client, prefix=es_prefix)
    racing = _RacingFirstUser(client, prefix=es_prefix)
    assert not first.index_pages(pages[:3]).errors
    assert not racing.index_pages(pages[3:6]).errors
    assert _write_indices(client, f"{es_prefix}-pages") == {f"{es_prefix}-pages-000001": True}
    assert first.count(SearchQuery(text="", access=EVERYTHING)) == 6


def test_an_alias_over_indices_without_a_write_index_is_named_and_a_rebuild_mends_it(
        es_prefix: str, pages: list[IndexPage]):
    """What two racing first users left before set-up was idempotent: every write failed (E601)
    with no word of why. Now the set-up names it (E605), and a rebuild leaves one write index."""
    client = es_client()
    alias = f"{es_prefix}-pages"
    for n in (1, 2):
        client.indices.create(index=f"{alias}-old{n}", aliases={alias: {}}, **index_body("standard"))
    index = ElasticsearchIndex(client, prefix=es_prefix)
    with pytest.raises(Unavailable) as refused:
        index.index_pages(pages[:1])
    assert refused.value.code == "E605"
    handle = index.begin_rebuild()
    assert not index.index_pages(pages[:2], target=handle).errors
    index.finish_rebuild(handle)
    assert list(_write_indices(client, alias).values()) == [True]
    assert not index.index_pages(pages[2:3]).errors


def test_a_read_creates_nothing_and_the_first_write_still_creates_the_index(es_prefix: str,
                                                                             pages: list[IndexPage]):
    """Searching a new prefix is E610 and leaves the cluster as it was (the catalog, not the
    backend, knows an archive without pages: ``search_as`` answers it empty); the first write
    makes the first index and its alias as before."""
    client = es_client()
    index = ElasticsearchIndex(client, prefix=es_prefix)
    with pytest.raises(Unavailable) as missing:
        index.search(SearchQuery(text="原告", access=EVERYTHING))
    assert missing.value.code == "E610"
    assert not client.indices.get(index=f"{es_prefix}-pages*", allow_no_indices=True)
    assert not index.index_pages(pages[:2]).errors
    assert index.count(SearchQuery(text="", access=EVERYTHING)) == 2


@pytest.mark.parametrize("harm", ["closed", "index-named-as-alias"])
def test_a_closed_or_shadowed_index_is_damaged_not_empty(es_prefix: str, pages: list[IndexPage], harm: str):
    client = es_client()
    index = ElasticsearchIndex(client, prefix=es_prefix)
    assert not index.index_pages(pages[:2]).errors
    if harm == "closed":
        client.indices.close(index=f"{es_prefix}-pages-000001")
    else:
        client.indices.delete(index=f"{es_prefix}-pages-000001")
        client.indices.create(index=f"{es_prefix}-pages")  # what a write to the bare name auto-creates
    with pytest.raises(Unavailable) as damaged:
        index.search(SearchQuery(text="原告", access=EVERYTHING))
    assert damaged.value.code == "E611"


@pytest.mark.slow
def test_pages_the_index_refuses_keep_the_aip_queued_and_in_the_ingest_outcome(
        es_prefix: str, tmp_path: Path, monkeypatch):
    """The index refuses every page (its write index is blocked): the batch is archived, each
    AIP stays queued, the outcome names it with E604; once the index takes writes, a reindex
    empties the queue. OCR is made to fail fast (no traineddata): this test is about indexing."""
    import os

    from flows.ingest_batch import ingest_batch
    from flows.reindex import reindex

    client = es_client()
    settings = Settings(home=tmp_path / "home", index_backend="elasticsearch",
                        es_url=os.environ[ES_URL_ENV], es_index_prefix=es_prefix, ocr_languages="zzz")
    ensure_dev_keys(settings.signing_key, settings.signing_cert, common_name="test archive")
    alias = f"{es_prefix}-pages"
    client.indices.create(index=f"{alias}-000001", aliases={alias: {"is_write_index": True}},
                          settings={"index.blocks.write": True},
                          mappings=index_body("standard")["mappings"])

    out = ingest_batch(write_sample_batch(tmp_path / "sample", seed=2), settings)

    assert out.status == "archived"
    aips = sorted(a.aip_id for a in out.aips)
    refused = sorted(p["path"] for p in out.problems if p["code"] == "E604")
    assert refused == aips and sorted(queued(settings)) == aips
    client.indices.put_settings(index=f"{alias}-000001", settings={"index.blocks.write": False})
    rebuilt = reindex(settings)
    assert rebuilt.errors == [] and queued(settings) == []
    assert ElasticsearchIndex(client, prefix=es_prefix).count(SearchQuery(text="", access=EVERYTHING)) > 0
