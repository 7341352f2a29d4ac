"""Progress of a running flow for a person watching: the stage and how many items of how many.

A flow reports with ``report(stage, done, total, unit)``. A listener in the same process (the
CLI running the flow in-process) hears it at once; inside a flow run the figures also go to the
run's Prefect progress artifact (at most one update a second, but every change of stage), so a submitter in another
process reads them with ``read_progress`` (server mode) and the Prefect UI shows them.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

UPDATE_EVERY = 1.0  # seconds between artifact updates of one run


@dataclass(frozen=True)
class Progress:
    stage: str
    done: int
    total: int
    unit: str = ""

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.total if self.total else 0.0

    def describe(self) -> str:
        return f"{self.stage}: {self.done} / {self.total} {self.unit}".rstrip()


Listener = Callable[[Progress], None]
_listeners: list[Listener] = []
_artifacts: dict[str, tuple[object, float, str]] = {}  # flow run id -> (artifact id, last update, stage)
_lock = threading.Lock()
_PATTERN = re.compile(r"^(?P<stage>[^:]+): (?P<done>\d+) / (?P<total>\d+) ?(?P<unit>.*)$")


def listen(listener: Listener) -> Callable[[], None]:
    """Call ``listener`` on every report in this process; returns the function that stops it."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def report(stage: str, done: int, total: int, unit: str = "") -> None:
    """Tell listeners and the flow run's progress artifact; never fails the flow."""
    progress = Progress(stage, done, total, unit)
    for listener in list(_listeners):
        listener(progress)
    try:
        _to_artifact(progress)
    except Exception:  # noqa: BLE001 - progress is a courtesy; the API may be busy
        pass


def _to_artifact(progress: Progress) -> None:
    from prefect.artifacts import create_progress_artifact, update_progress_artifact
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    run_id, now = str(context.flow_run.id), time.monotonic()
    with _lock:
        artifact_id, last, stage = _artifacts.get(run_id, (None, 0.0, ""))
        news = progress.stage != stage or progress.done >= progress.total
        if artifact_id is not None and now - last < UPDATE_EVERY and not news:
            return
        if artifact_id is None:
            artifact_id = create_progress_artifact(progress.percent, description=progress.describe())
        else:
            update_progress_artifact(artifact_id, progress.percent, description=progress.describe())
        _artifacts[run_id] = (artifact_id, now, progress.stage)


def read_progress(client, flow_run_id) -> Progress | None:
    """The latest progress of a flow run (or of its subflow runs), from its artifacts."""
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterType, FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import ArtifactSort

    artifacts = client.read_artifacts(
        artifact_filter=ArtifactFilter(type=ArtifactFilterType(any_=["progress"])),
        flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
        sort=ArtifactSort.UPDATED_DESC, limit=1)
    for artifact in artifacts:
        match = _PATTERN.match(artifact.description or "")
        if match:
            return Progress(match["stage"], int(match["done"]), int(match["total"]), match["unit"])
    return None
