"""Nothing a killed process started is left behind: its OCR workers exit, and its flow runs are
marked Crashed by the next process instead of staying Running for ever."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

from flows.orphan_runs import is_orphan, mark_orphaned_runs, process_tag

_CHILD = """
import sys, time
from ingest.ocr._lifetime import exit_with
exit_with(int(sys.argv[1]))
time.sleep(600)
"""


def _wait_exit(proc: subprocess.Popen, deadline: float = 120) -> int | None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            return proc.returncode
        time.sleep(0.2)
    proc.kill()
    return None


def test_an_ocr_worker_exits_when_the_process_that_started_it_is_killed() -> None:
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    worker = subprocess.Popen([sys.executable, "-c", _CHILD, str(parent.pid)])
    try:
        assert worker.poll() is None
        parent.kill()
        parent.wait()
        assert _wait_exit(worker) == 70
    finally:
        parent.kill()
        worker.kill()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_only_runs_of_dead_processes_of_this_host_are_orphans() -> None:
    host = socket.gethostname()
    assert is_orphan(["ingest", f"process:{host}:{_dead_pid()}"], host)
    assert not is_orphan([process_tag()], host)
    assert not is_orphan([f"process:other-host:{_dead_pid()}"], host)
    assert not is_orphan(["batch:x"], host)


def test_a_running_flow_run_of_a_killed_process_is_marked_crashed() -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Running

    from flows.deploy import log_sign_head

    host = socket.gethostname()
    with get_client(sync_client=True) as client:
        dead = client.create_flow_run(log_sign_head, tags=[f"process:{host}:{_dead_pid()}"], state=Running())
        alive = client.create_flow_run(log_sign_head, tags=[process_tag()], state=Running())
        marked = mark_orphaned_runs()
        assert str(dead.id) in marked and str(alive.id) not in marked
        assert client.read_flow_run(dead.id).state.is_crashed()
        assert client.read_flow_run(alive.id).state.is_running()
