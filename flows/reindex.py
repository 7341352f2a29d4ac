"""Rebuild the search index from the storage root alone (the catalog is not consulted)."""

from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from archive.catalog import session
from archive.catalog.record import dequeue_indexed
from archive.storage import Store
from config import Settings
from dissemination.search.from_aip import aip_id_of_object, pages_of_object
from dissemination.search.registry import open_index
from flows._runtime import bind_journals, open_store
from flows.progress import report as progress


class ReindexOutcome(BaseModel):
    objects: int
    pages: int
    errors: list[str] = []


@task(cache_policy=NO_CACHE)
def _rebuild(settings: Settings, store: Store) -> ReindexOutcome:
    index = open_index(settings)
    objects, pages, errors = 0, 0, []
    indexed: dict[str, int] = {}
    handle = index.begin_rebuild()
    ids = list(store.object_ids())
    for done, object_id in enumerate(ids):
        progress("reindex", done, len(ids), "AIPs")
        aip_id = aip_id_of_object(object_id)
        head = store.head(object_id) or 0  # the rebuild reads this head or a newer one
        report = index.index_pages(pages_of_object(store, object_id, aip_id), target=handle)
        objects += 1
        pages += report.indexed
        errors += [str(e) for e in report.errors]
        if not report.errors:  # an AIP with refused pages stays queued
            indexed[aip_id] = head
    progress("reindex", len(ids), len(ids), "AIPs")
    index.finish_rebuild(handle)
    with session(settings.catalog_url) as s:
        for aip_id, version in indexed.items():
            dequeue_indexed(s, aip_id, version)
        s.commit()
    return ReindexOutcome(objects=objects, pages=pages, errors=errors)


@flow(name="reindex")
def reindex(settings: Settings) -> ReindexOutcome:
    bind_journals(settings)
    return _rebuild(settings, open_store(settings))
