"""In-process mode's shared Prefect server (flows/_prefect_server.py) and command runner
(cli/_runner.py): commands of one home started together start one server, a later command runs
in the runner they left, their flow and task runs are recorded on the server, and it stops
itself once idle."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from cli._runner import socket_path
from flows._prefect_server import stop_shared_server
from tests.conftest import BIN

pytestmark = pytest.mark.integration
IDLE_SECONDS = 30  # long enough for the next command to start on a loaded machine


def _command_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PREFECT_API_URL", "PREFECT_HOME", "PREFECT_PROFILES_PATH")}
    return {**env, "JUANZONG_HOME": str(home), "JUANZONG_PREFECT_SERVER_IDLE_SECONDS": str(IDLE_SECONDS)}


def _audit(home: Path) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "juanzong"), "audit", "--full", "--json"], env=_command_env(home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out)


def _runs(url: str, kind: str) -> list[tuple[str, str]]:
    rows = httpx.post(f"{url}/{kind}/filter", json={}, timeout=30).json()
    return sorted((r.get("flow_name") or r["name"].rsplit("-", 1)[0], r["state_type"]) for r in rows)


def _runner_log(folder: Path) -> str:
    path = folder / "runner.log"
    return path.read_text("utf-8") if path.exists() else ""


def test_commands_share_one_server_that_records_their_runs_and_stops_when_idle(tmp_path: Path):
    home = tmp_path / "home"
    folder = home / "prefect"
    try:
        together = [_audit(home), _audit(home)]
        assert [_finish(p)["checked"] for p in together] == [0, 0]
        state = json.loads((folder / "server.json").read_text())
        deadline = time.monotonic() + 300  # the first commands left a runner behind: wait for it
        runner = socket_path(_command_env(home))
        while not runner.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _finish(_audit(home))["checked"] == 0
        assert json.loads((folder / "server.json").read_text()) == state  # the same server
        assert [state for _, state in _runs(state["url"], "flow_runs")] == ["COMPLETED"] * 3
        assert "juanzong audit --full --json" in _runner_log(folder)  # the third ran in a runner
        missing = subprocess.run([str(BIN / "juanzong"), "ingest", str(tmp_path / "no-batch"), "--json"],
                                 env=_command_env(home), capture_output=True, text=True, timeout=600)
        assert (missing.returncode, json.loads(missing.stdout)["error"]["code"]) == (1, "E100")
        assert f"juanzong ingest {tmp_path / 'no-batch'} --json" in _runner_log(folder)
        assert {name for name, _ in _runs(state["url"], "task_runs")} >= {"run_audit", "record_audit"}
        deadline = time.monotonic() + IDLE_SECONDS + 240
        while (folder / "server.json").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not (folder / "server.json").exists(), "the server did not stop once idle"
    finally:
        stop_shared_server(folder)
