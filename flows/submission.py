"""How a batch reaches the ingest flow: the one submission callable shared by the station
API, the hot folder and the CLI's ingest and intake commands."""

from __future__ import annotations

import threading
from pathlib import Path

from config import Settings
from ingest.intake import Submit

_PREFECT_START = threading.Lock()
_PREFECT_READY = threading.Event()


def _prefect_api_ready() -> None:
    """Start Prefect's ephemeral API (if no server is configured) once, one thread at a time.
    Its start is not thread-safe: ingest workers whose first flows begin together start two
    servers on one database ("duplicate column") or use one not yet started ("Server
    process did not start"), and those batches end in error. Once up it stays up for the
    process, so later batches skip the check."""
    if _PREFECT_READY.is_set():
        return
    from prefect.client.orchestration import get_client

    with _PREFECT_START:
        if not _PREFECT_READY.is_set():
            with get_client(sync_client=True) as client:
                client.api_healthcheck()
            _mark_orphans()
            _PREFECT_READY.set()


def _mark_orphans() -> None:
    """Once per process, as Prefect comes up: runs a killed process left Running become Crashed."""
    import logging

    from flows.orphan_runs import mark_orphaned_runs

    try:
        marked = mark_orphaned_runs()
    except Exception:  # noqa: BLE001 - a courtesy; never stops a submission
        logging.getLogger("juanzong").warning("could not check for orphaned flow runs", exc_info=True)
        return
    if marked:
        logging.getLogger("juanzong").warning("marked %d orphaned flow runs Crashed", len(marked))


def flow_submit(settings: Settings) -> Submit:
    """The ingest flow as the submission callable; Prefect is imported on first use only.
    With a server that has the ``ingest-batch`` deployment, the batch becomes a flow run of
    it on the work pool (``flows.remote_runs``); otherwise it runs in this process."""

    def submit(batch_dir: Path):
        from flows.ingest_batch import ingest_batch
        from flows.remote_runs import is_server_mode, run_remote

        if is_server_mode():
            return run_remote(settings, batch_dir)
        from prefect import tags

        from flows.orphan_runs import process_tag

        _prefect_api_ready()
        with tags(process_tag()):
            return ingest_batch(batch_dir, settings)

    return submit
