"""Index an AIP's head version. When the index is down the AIP stays archived and the
case is queued; ``reindex`` (or the next ingest) drains the queue."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from sqlmodel import select

from archive.catalog import session
from archive.catalog.models import IndexQueueItem
from archive.catalog.record import dequeue_indexed, record_indexing_failure
from archive.records import ocfl_id_for
from archive.storage import Store
from config import Settings
from dissemination.search.from_aip import pages_of_object
from dissemination.search.registry import open_index


@task(cache_policy=NO_CACHE, retries=3, retry_delay_seconds=[1, 4, 16])
def _index(aip_id: str, settings: Settings, store: Store) -> int:
    index = open_index(settings)
    index.delete_aip(aip_id)
    report = index.index_pages(pages_of_object(store, ocfl_id_for(aip_id), aip_id))
    return report.indexed


def index_aip(aip_id: str, settings: Settings, store: Store) -> bool:
    """Index one AIP; on failure queue it instead of failing the ingest."""
    version = store.head(ocfl_id_for(aip_id)) or 0  # indexing reads this head or a newer one
    try:
        _index(aip_id, settings, store)
    except Exception as exc:  # the index being down must never lose an archived AIP
        get_run_logger().warning("indexing %s failed, queued: %s", aip_id, exc)
        with session(settings.catalog_url) as s:
            record_indexing_failure(s, aip_id, version, str(exc))
            s.commit()
        return False
    with session(settings.catalog_url) as s:
        dequeue_indexed(s, aip_id, version)
        s.commit()
    return True


def queued(settings: Settings) -> list[str]:
    with session(settings.catalog_url) as s:
        return [i.aip_id for i in s.exec(select(IndexQueueItem)).all()]
