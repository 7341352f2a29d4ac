"""A progress bar on the terminal while a flow runs: stage, items done of total, elapsed and
remaining time (rich). In-process the flow's reports arrive directly (``flows.progress``);
in server mode they are read from the flow run's progress artifact at each poll. Nothing is
drawn with ``--json`` or when stderr is not a terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from config import Settings
from flows import progress as flow_progress

T = TypeVar("T")


class Display:
    """One bar per stage; the current stage's bar moves."""

    def __init__(self, bars: Progress) -> None:
        self.bars = bars
        self.tasks: dict[str, object] = {}

    def update(self, p: flow_progress.Progress) -> None:
        if p.stage not in self.tasks:
            self.tasks[p.stage] = self.bars.add_task(p.stage, total=max(p.total, 1), unit=p.unit)
        self.bars.update(self.tasks[p.stage], completed=p.done, total=max(p.total, 1), unit=p.unit)

    def on_run(self, run) -> None:
        """Server mode: show the run's state, then its latest progress artifact."""
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            latest = flow_progress.read_progress(client, run.id)
        if latest is None:
            latest = flow_progress.Progress(f"flow run {run.state_name}", 0, 1, "")
        self.update(latest)


@contextmanager
def progress_display(show: bool) -> Iterator[Display | None]:
    console = Console(stderr=True)
    if not show or not console.is_terminal:
        yield None
        return
    bars = Progress(TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[unit]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=console)
    display = Display(bars)
    stop = flow_progress.listen(display.update)
    try:
        with bars:
            yield display
    finally:
        stop()


def with_progress(show: bool, run: Callable[[], T]) -> T:
    """Run an in-process flow under a progress display."""
    with progress_display(show):
        return run()


def ingest_with_progress(settings: Settings, batch_dir: Path, *, remote: bool, show: bool):
    """Ingest on the work pool (``remote``) or in this process, showing progress either way."""
    from flows.ingest_batch import ingest_batch
    from flows.remote_runs import run_remote

    with progress_display(show) as display:
        if remote:
            return run_remote(settings, batch_dir, on_run=display.on_run if display else None)
        return ingest_batch(batch_dir, settings)
