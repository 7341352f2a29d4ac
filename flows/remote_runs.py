"""Server mode: each batch becomes one flow run of the ``ingest-batch`` deployment, taken by
whichever worker of the pool is free, and the submitter waits for its outcome.

The mode is chosen per submission: with ``PREFECT_API_URL`` set and the deployment applied
(``juanzong deploy``) the batch goes to the pool; otherwise the flow runs in this process as
before (a bare Prefect server then only records the runs). The batch folder must lie on the
storage every worker shares (the intake area under ``JUANZONG_HOME`` does).

A deployed run writes its outcome to ``<home>/runs/<flow run id>.json`` (the home is shared),
so the submitter prints what an in-process run prints. A run that ends Crashed (its worker
died; the heartbeat automation of ``flows.deploy`` marks it) is submitted again, so another
worker takes the batch; after ``CRASH_ATTEMPTS`` crashes the batch stays queued (E922).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from config import Settings
from flows.engine_env import is_server_configured
from ingest.intake import Outcome, Submit
from schemas.errors import JuanzongError

DEPLOYMENT = "ingest-batch/ingest-batch"
CRASH_ATTEMPTS = 3
POLL_SECONDS = 1.0

OnRun = Callable[[object], None]  # called with the FlowRun at each poll (progress display)


def outcome_path(settings: Settings, run_id: uuid.UUID | str) -> Path:
    return settings.home / "runs" / f"{run_id}.json"


def keep_outcome(settings: Settings, outcome) -> None:
    """In a deployment's flow run, leave the outcome where the submitter reads it."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if context is None or context.flow_run is None or context.flow_run.deployment_id is None:
        return
    path = outcome_path(settings, context.flow_run.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(outcome.model_dump_json(), encoding="utf-8")
    os.replace(tmp, path)


def is_server_mode() -> bool:
    """A Prefect server is configured and knows the ``ingest-batch`` deployment."""
    if not is_server_configured():
        return False
    import httpx
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    try:
        with get_client(sync_client=True) as client:
            client.read_deployment_by_name(DEPLOYMENT)
    except ObjectNotFound:
        return False
    except httpx.HTTPError as exc:
        raise JuanzongError("E925", os.environ["PREFECT_API_URL"], reason=str(exc) or type(exc).__name__) from exc
    return True


def submit_run(batch_dir: Path) -> uuid.UUID:
    """Create a flow run of the deployment for ``batch_dir``; a worker takes it when free."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(DEPLOYMENT)
        run = client.create_flow_run_from_deployment(
            deployment.id, parameters={"batch_dir": str(batch_dir.absolute())},
            tags=["batch:" + batch_dir.name[:100]])
        return run.id


def wait_for_run(run_id: uuid.UUID, on_run: OnRun | None = None, *, timeout: float | None = None):
    """Poll the run until its state is final (Completed, Failed, Crashed, Cancelled)."""
    from prefect.client.orchestration import get_client

    deadline = None if timeout is None else time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(run_id)
            if on_run is not None:
                on_run(run)
            if run.state is not None and run.state.is_final():
                return run
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"flow run {run_id} is still {run.state_name}")
            time.sleep(POLL_SECONDS)


def read_outcome(settings: Settings, run) -> Outcome:
    """The outcome a Completed run left; a Failed or Cancelled run raises E921."""
    from flows.ingest_batch import IngestOutcome

    batch_dir = str(run.parameters.get("batch_dir", run.id))
    if not run.state.is_completed():
        raise JuanzongError("E921", batch_dir, found=run.state.name,
                            reason=run.state.message or "see the flow run's logs")
    path = outcome_path(settings, run.id)
    if not path.is_file():
        raise JuanzongError("E923", batch_dir)
    outcome = IngestOutcome.model_validate_json(path.read_bytes())
    path.unlink(missing_ok=True)  # read once; a --no-wait run's outcome stays for whoever looks
    return outcome


def run_remote(settings: Settings, batch_dir: Path, on_run: OnRun | None = None) -> Outcome:
    """Submit and wait; a crashed run is submitted again for another worker to take."""
    for _attempt in range(CRASH_ATTEMPTS):
        run = wait_for_run(submit_run(batch_dir), on_run)
        if not run.state.is_crashed():
            return read_outcome(settings, run)
    raise JuanzongError("E922", str(batch_dir), found=CRASH_ATTEMPTS)


def remote_submit(settings: Settings) -> Submit:
    return lambda batch_dir: run_remote(settings, batch_dir)

