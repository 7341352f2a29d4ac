"""Index an AIP's head version. When the index is down, or refuses some of its pages, the AIP
stays archived and queued, and the caller gets a problem to report (E604, E606); ``reindex``
(or the next ingest) drains the queue."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from sqlmodel import select

from archive.catalog import session
from archive.catalog.models import Aip, IndexQueueItem
from archive.catalog.record import dequeue_indexed, record_indexing_failure
from archive.records import ocfl_id_for
from archive.storage import Store
from config import Settings
from dissemination.search.base import IndexReport
from dissemination.search.from_aip import pages_of_object
from dissemination.search.registry import open_index
from schemas.errors import Problem


@task(cache_policy=NO_CACHE, retries=3, retry_delay_seconds=[1, 4, 16])
def _index(aip_id: str, settings: Settings, store: Store) -> IndexReport:
    """Replace the AIP's pages; pages the index refused are in the report (not retried here:
    the bulk client already retried what can succeed later)."""
    index = open_index(settings)
    index.delete_aip(aip_id)
    return index.index_pages(pages_of_object(store, ocfl_id_for(aip_id), aip_id))


def refused_pages(aip_id: str, report: IndexReport) -> Problem | None:
    """E604 naming how many pages the index refused and the first reason, or None."""
    if not report.errors:
        return None
    total = report.indexed + len(report.errors)
    return Problem.of("E604", aip_id, expected=total, found=len(report.errors), fatal=False,
                      reason=report.errors[0].message[:300])


def index_aip(aip_id: str, settings: Settings, store: Store) -> Problem | None:
    """Index one AIP; None when every page is in the index. Otherwise the AIP stays queued and
    the problem (E606 index unavailable, E604 pages refused) is logged and returned for the
    caller's outcome: a failed indexing never fails an ingest and never passes for a success."""
    version = store.head(ocfl_id_for(aip_id)) or 0  # indexing reads this head or a newer one
    try:
        check_index_kept(settings)
        problem = refused_pages(aip_id, _index(aip_id, settings, store))
    except Exception as exc:  # the index being down must never lose an archived AIP
        problem = Problem.of("E606", aip_id, fatal=False, reason=f"{type(exc).__name__}: {exc}"[:1000])
    if problem is not None:
        get_run_logger().warning("%s [%s]", problem.message, problem.code)
        with session(settings.catalog_url) as s:
            record_indexing_failure(s, aip_id, version, problem.message)
            s.commit()
        return problem
    with session(settings.catalog_url) as s:
        dequeue_indexed(s, aip_id, version)
        s.commit()
    return None


def check_index_kept(settings: Settings) -> None:
    """E610/E611 when the index is lost or damaged and the archive had indexed pages into it:
    writing would re-create it empty and hold only what is indexed from now on, so searches
    would miss every earlier AIP unseen. Only ``juanzong reindex`` rebuilds it (from storage).
    While every AIP is queued, the first write makes the index (the queue fills it whole)."""
    if is_anything_indexed(settings):
        open_index(settings).check_live()


def is_anything_indexed(settings: Settings) -> bool:
    """Whether the catalog holds an AIP that is not queued for indexing: its pages went into the index."""
    with session(settings.catalog_url) as s:
        waiting = select(IndexQueueItem.aip_id)
        return s.exec(select(Aip.aip_id).where(Aip.aip_id.not_in(waiting)).limit(1)).first() is not None


def index_queued(settings: Settings, store: Store) -> list[Problem]:
    """Index every queued AIP; the problems of those that stay queued."""
    return [p for aip_id in queued(settings) if (p := index_aip(aip_id, settings, store))]


def queued(settings: Settings) -> list[str]:
    with session(settings.catalog_url) as s:
        return [i.aip_id for i in s.exec(select(IndexQueueItem)).all()]
