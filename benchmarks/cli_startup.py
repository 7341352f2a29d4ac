"""How long a flow-running command takes on an empty archive, before and after the shared
local Prefect server (``flows/_prefect_server.py``) and the command runner (``cli/_runner.py``),
in one run.

    .venv/bin/python benchmarks/cli_startup.py [--runs 3] [--command audit --full]

Each figure is one ``juanzong <command> --json`` in a fresh process: wall time and the CPU
time of the command and its children (the server and the runner are detached: their CPU is
not counted; in the runner the command's own work runs in a forked child of the runner). Baselines from the same run: ``juanzong info`` (no Prefect at all)
and ``python -c "import prefect"`` (the floor of any command that runs a flow in-process).

- before: ``JUANZONG_PREFECT_SERVER_IDLE_SECONDS=0``, Prefect's ephemeral API, one server
  process started and stopped by every command;
- after, first: the first command of a home, which starts the shared server (and leaves a
  runner behind when it exits);
- after, no runner (``JUANZONG_CLI_RUNNER=0``): later commands import everything themselves;
- after: later commands, handed to the runner.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cli._runner import socket_path  # noqa: E402
from flows._prefect_server import stop_shared_server  # noqa: E402

IDLE_SECONDS = "180"  # the server and the runner stop a few minutes after the benchmark

BIN = Path(sys.executable).parent


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one process."""
    cpu, start = _children_cpu(), time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start, _children_cpu() - cpu


def _series(label: str, runs: int, argv: list[str], env: dict[str, str]) -> float:
    figures = [_run(argv, env) for _ in range(runs)]
    wall = statistics.median(w for w, _ in figures)
    cpu = statistics.median(c for _, c in figures)
    print(f"{label:<44} wall {wall:6.2f} s (min {min(w for w, _ in figures):5.2f})   cpu {cpu:5.2f} s")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--command", nargs="+", default=["audit", "--full"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cli-startup-") as tmp:
        env = {**os.environ, "JUANZONG_HOME": str(Path(tmp) / "home"),
               "JUANZONG_PREFECT_SERVER_IDLE_SECONDS": IDLE_SECONDS}
        for name in ("PREFECT_API_URL", "PREFECT_PROFILES_PATH", "PREFECT_HOME"):
            env.pop(name, None)
        command = [str(BIN / "juanzong"), *args.command, "--json"]
        print(f"{' '.join(args.command)} on an empty archive, {args.runs} runs each (median)")
        _series("baseline: juanzong info (no Prefect)", args.runs, [str(BIN / "juanzong"), "info", "--json"], env)
        _series("baseline: python -c 'import prefect'", args.runs, [sys.executable, "-c", "import prefect"], env)
        before = _series("before: ephemeral API per command", args.runs, command,
                         {**env, "JUANZONG_PREFECT_SERVER_IDLE_SECONDS": "0"})
        try:
            first = _series("after, first command (starts the server)", 1, command, env)
            _wait_for_runner(env)
            after = _series("after: the runner, shared server running", args.runs, command, env)
            shared = _series("after, no runner: shared server running", args.runs, command,
                             {**env, "JUANZONG_CLI_RUNNER": "0"})
        finally:
            stop_shared_server(Path(tmp) / "home" / "prefect")
        print(f"after / before: {after / before:.3f} (no runner {shared / before:.2f}, first command "
              f"{first / before:.2f}); goal: after <= 2 s")


def _wait_for_runner(env: dict[str, str], seconds: float = 600) -> None:
    """The first command left a runner warming up; measure it once it listens."""
    path, deadline = socket_path(env), time.monotonic() + seconds
    while path is not None and not path.exists() and time.monotonic() < deadline:
        time.sleep(0.5)


if __name__ == "__main__":
    main()
