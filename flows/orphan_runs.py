"""Flow runs left Running by a process that died (in-process mode).

A flow run executed in the process that submitted it (the API, the hot folder, the CLI without a
work pool) carries the tag ``process:<host>:<pid>``. When that process is killed nothing reports
the run's end, and no worker heartbeat automation watches it. A process that starts (the API)
marks Crashed every Running run tagged with a dead process of its own host, so no run stays
Running for ever. Runs on workers are watched by the heartbeat automation instead
(``flows.deploy``).
"""

from __future__ import annotations

import os
import socket

from ingest.ocr._lifetime import is_alive

PREFIX = "process:"


def process_tag() -> str:
    return f"{PREFIX}{socket.gethostname()}:{os.getpid()}"


def is_orphan(tags: list[str], host: str) -> bool:
    """Tagged with a process of ``host`` that is no longer alive."""
    for tag in tags:
        owner_host, _, pid = tag.removeprefix(PREFIX).rpartition(":")
        if tag.startswith(PREFIX) and owner_host == host and pid.isdigit() and not is_alive(int(pid)):
            return True
    return False


def mark_orphaned_runs() -> list[str]:
    """Mark Crashed the Running flow runs of dead processes on this host; their ids."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.states import Crashed

    host, marked = socket.gethostname(), []
    running = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=["RUNNING"])))
    with get_client(sync_client=True) as client:
        for run in client.read_flow_runs(flow_run_filter=running):
            if is_orphan(run.tags, host):
                client.set_flow_run_state(run.id, Crashed(message="the process running this flow run "
                                                                  "ended without reporting"), force=True)
                marked.append(str(run.id))
    return marked
