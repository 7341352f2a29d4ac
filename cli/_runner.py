"""The ``juanzong`` entry point, and a pre-forked runner that makes in-process flow commands start fast.

A command that runs a flow in-process spends most of its time importing Prefect and the
archive's modules (about 4 s of CPU on the development machine), not working. After such a
command, a *runner* is left behind: a detached process that has imported everything, pointed
Prefect at the shared local server (``flows._prefect_server``) and waits on a Unix socket. The
next eligible command connects, hands over its arguments, environment, working folder and its
stdin/stdout/stderr (``SCM_RIGHTS``); the runner forks, and the child runs ``cli.main.main`` as the
command would have, on the caller's terminal. The caller forwards SIGINT/SIGTERM/SIGHUP to the
child and exits with its exit code.

Only what would run identically goes to a runner: in-process mode (no ``PREFECT_API_URL``), the
shared server on, no ``JUANZONG_CONFIG`` file, ``JUANZONG_CLI_RUNNER`` not ``0``, and a runner
made from the same environment (``PREFECT_*``, ``JUANZONG_*``, paths) and the same code (the
newest modification time of the package's files): the socket's name is a digest of all that.
Anything else, or no runner answering, runs here as before. A runner exits after
``JUANZONG_PREFECT_SERVER_IDLE_SECONDS`` without a command. This module imports only the
standard library until it hands over to ``cli.main``.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

RUNNER_COMMANDS = frozenset({"ingest", "audit", "reindex", "disseminate", "demo", "archive-case", "ocr",
                             "requests", "notifications", "quarantine"})
_ENV_PREFIXES = ("PREFECT_", "JUANZONG_")
_ENV_NAMES = ("PATH", "PYTHONPATH", "VIRTUAL_ENV", "HOME", "LANG", "LC_ALL", "TZ")
_PACKAGES = ("api", "archive", "cli", "config", "dissemination", "flows", "ingest", "schemas")
_REPO = Path(__file__).resolve().parents[1]
DEFAULT_IDLE_SECONDS = 900.0


def _idle_seconds(env: dict[str, str]) -> float:
    try:
        return float(env.get("JUANZONG_PREFECT_SERVER_IDLE_SECONDS", DEFAULT_IDLE_SECONDS))
    except ValueError:
        return 0.0


def _is_eligible(env: dict[str, str], argv: list[str]) -> bool:
    command = next((a for a in argv if not a.startswith("-")), "")
    return (command in RUNNER_COMMANDS and not env.get("PREFECT_API_URL") and not env.get("PREFECT_PROFILES_PATH")
            and not env.get("JUANZONG_CONFIG") and env.get("JUANZONG_CLI_RUNNER", "1") != "0"
            and _idle_seconds(env) > 0)


def _code_stamp() -> str:
    """Newest modification time and count of the package's files: a runner never serves old code."""
    newest, count = 0, 0
    for package in _PACKAGES:
        for dirpath, dirnames, filenames in os.walk(_REPO / package):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for name in filenames:
                newest = max(newest, os.stat(os.path.join(dirpath, name)).st_mtime_ns)
                count += 1
    return f"{newest}:{count}"


def socket_path(env: dict[str, str]) -> Path | None:
    """Where the runner for this environment and this code listens (short: sockets allow 107 bytes)."""
    home = Path(env.get("JUANZONG_HOME") or "var").absolute()
    relevant = sorted((k, v) for k, v in env.items() if k.startswith(_ENV_PREFIXES) or k in _ENV_NAMES)
    key = json.dumps([os.path.realpath(sys.executable), sys.prefix, str(home), relevant, _code_stamp()])
    folder = Path(tempfile.gettempdir()) / f"juanzong-runners-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    info = folder.lstat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077 or not folder.is_dir() or folder.is_symlink():
        return None  # not ours alone: never hand a command to whoever listens there
    return folder / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.sock"


# --- the caller --------------------------------------------------------------------------------

def _read_line(conn: socket.socket) -> str | None:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(1)
        if not chunk:
            return None
        data += chunk
    return data.decode().strip()


def _run_in_runner(path: Path, argv: list[str]) -> int | None:
    """The command's exit code from a runner, or None when no runner started it."""
    conn = socket.socket(socket.AF_UNIX)
    try:
        conn.connect(str(path))
        payload = json.dumps({"argv": argv, "env": dict(os.environ), "cwd": os.getcwd()}).encode()
        socket.send_fds(conn, [len(payload).to_bytes(8, "big")], [0, 1, 2])
        conn.sendall(payload)
        started = _read_line(conn)
    except OSError:
        return None
    if not started or not started.startswith("S"):
        return None
    child = int(started[1:])
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda number, _frame: _forward(child, number))
    try:
        ended = _read_line(conn)
    except OSError:
        ended = None
    return int(ended[1:]) if ended and ended.startswith("E") else 1


def _forward(child: int, number: int) -> None:
    try:
        os.kill(child, number)
    except ProcessLookupError:
        pass


def _spawn_runner(path: Path, env: dict[str, str]) -> None:
    """Leave a runner behind for the next command (after this one: it must not compete for CPU)."""
    subprocess.Popen([sys.executable, "-m", "cli._runner", "serve", str(path)], env=env, cwd=_REPO,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)


def main() -> None:
    """``juanzong``: through a runner when one fits, otherwise in this process."""
    argv, env = sys.argv[1:], dict(os.environ)
    path = socket_path(env) if _is_eligible(env, argv) else None
    if path is not None:
        code = _run_in_runner(path, argv)
        if code is not None:
            sys.exit(code)
        atexit.register(_spawn_runner, path, env)
    from cli.main import main as run_here

    run_here()


# --- the runner --------------------------------------------------------------------------------

def _warm_up() -> None:
    """Everything a flow command imports and sets up before its work, done once."""
    from cli.main import prepare_process

    prepare_process(["audit"])  # any flow command: the same set-up
    import prefect.flow_engine  # noqa: F401
    import prefect.task_engine  # noqa: F401

    import flows.archive_case, flows.audit_fixity, flows.demo, flows.disseminate  # noqa: F401,E401
    import flows.ingest_batch, flows.notifications, flows.reindex, flows.retry_ocr  # noqa: F401,E401


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    head, fds, _flags, _addr = socket.recv_fds(conn, 8, 3)
    size, payload = int.from_bytes(head, "big"), b""
    while len(payload) < size:
        chunk = conn.recv(size - len(payload))
        if not chunk:
            raise OSError("the caller went away")
        payload += chunk
    return json.loads(payload), fds


def _run_child(conn: socket.socket, request: dict, fds: list[int]) -> None:
    """In the forked child: become the caller's command, report its exit code, never return."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["juanzong", *request["argv"]]
        from archive.catalog.db import open_catalog

        open_catalog.cache_clear()  # never share a database connection with the runner
        conn.sendall(f"S{os.getpid()}\n".encode())
        threading.Thread(target=_exit_with_caller, args=(conn,), daemon=True).start()
        from cli.main import main as run_command

        run_command()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - the child's edge: anything else is exit 1
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        try:
            conn.sendall(f"E{code}\n".encode())
        finally:
            os._exit(code)


def _log(line: str) -> None:
    """One line per command served, in ``$PREFECT_HOME/runner.log``."""
    with open(Path(os.environ["PREFECT_HOME"]) / "runner.log", "a", encoding="utf-8") as log:
        log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {os.getpid()} {line}\n")


def _exit_with_caller(conn: socket.socket) -> None:
    """The caller went away (killed): end the command as if it had been killed with it."""
    try:
        conn.recv(1)
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGKILL)


def serve(path: Path) -> None:
    """Warm up, then fork one child per caller until idle. One runner per socket: a second one
    (two cold commands finished together) leaves at once."""
    only = open(path.with_suffix(".lock"), "a+b")
    try:
        fcntl.flock(only, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return
    _warm_up()
    listener = socket.socket(socket.AF_UNIX)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    listener.bind(str(tmp))
    listener.listen(16)
    os.replace(tmp, path)
    ours = path.stat().st_ino
    listener.settimeout(_idle_seconds(dict(os.environ)))
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    signal.signal(signal.SIGTERM, lambda _number, _frame: sys.exit(0))  # leave through ``finally``
    try:
        while True:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                return
            conn.settimeout(None)
            try:
                request, fds = _receive(conn)
            except (OSError, ValueError):
                conn.close()
                continue
            child = os.fork()
            if child == 0:
                listener.close()
                _run_child(conn, request, fds)
            _log(f"pid {child}: juanzong {' '.join(request['argv'])}")
            for fd in fds:
                os.close(fd)
            conn.close()
    finally:
        if path.exists() and path.stat().st_ino == ours:
            path.unlink(missing_ok=True)


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    serve(Path(sys.argv[2]))
