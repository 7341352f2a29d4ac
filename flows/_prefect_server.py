"""In-process mode's Prefect API: one local server per ``PREFECT_HOME``, started by the first
command that runs a flow and shared by the commands after it.

Prefect's ephemeral API starts a server process for every command (10-19 s on the 2-core
development machine, more than the work of an audit of an empty archive). Here the first
command starts the same server (Prefect's app in uvicorn, UI off, the ephemeral server's
in-process services) detached, under ``$PREFECT_HOME``:

    server.json      {pid, url} of the running server, written by the server once it listens
    profile.toml     a Prefect profile naming that URL; commands point PREFECT_PROFILES_PATH at it
    server.lock      starters take turns (one server, however many commands start at once)
    server.users     every command using the server holds a shared lock on it for its lifetime
    server.log       the server's output

A command takes its shared lock, then, under the start lock, checks the server's health and
starts one only when none answers. The server stops itself once no command has held a shared
lock for ``idle_seconds`` (it takes the exclusive lock before stopping, so no command starts
using a stopping server). Flow and task runs are recorded as before, in ``$PREFECT_HOME``'s
database. ``PREFECT_API_URL`` itself is never set: that variable means server mode.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO

from schemas.errors import Unavailable

START_TIMEOUT_SECONDS = 180.0
HEALTH_PATIENCE_SECONDS = 60.0
SERVER_ENV = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
_held: list[IO[bytes]] = []  # this process's shared lock on server.users, kept until exit


def _is_healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except (OSError, ValueError):
        return False


def _running_url(folder: Path, patience: float = 0.0) -> str | None:
    """The recorded server's URL if it answers; a live server is given ``patience`` seconds
    (a loaded machine may answer slowly: starting a second server would not help)."""
    try:
        state = json.loads((folder / "server.json").read_text())
        url, pid = state["url"], int(state["pid"])
    except (OSError, ValueError, KeyError):
        return None
    deadline = time.monotonic() + patience
    while not _is_healthy(url):
        if time.monotonic() > deadline or not _is_alive(pid):
            return None
        time.sleep(0.2)
    return url


def _hold_shared(folder: Path) -> None:
    if not _held:
        handle = open(folder / "server.users", "a+b")
        fcntl.flock(handle, fcntl.LOCK_SH)
        _held.append(handle)


def _spawn(folder: Path, idle_seconds: float) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_PROFILES_PATH")}
    env["PREFECT_HOME"] = str(folder)
    with open(folder / "server.log", "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "flows._prefect_server", str(folder), str(idle_seconds)],
                                cwd=folder, env={**env, **SERVER_ENV}, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, start_new_session=True)


def _wait_ready(folder: Path, proc: subprocess.Popen) -> str:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        url = _running_url(folder)
        if url is not None:
            return url
        if proc.poll() is not None:
            raise Unavailable("E940", str(folder / "server.log"), reason=f"exited with {proc.returncode}")
        time.sleep(0.1)
    raise Unavailable("E940", str(folder / "server.log"), reason=f"no answer in {START_TIMEOUT_SECONDS:.0f} s")


def shared_server_url(folder: Path, idle_seconds: float) -> str:
    """The URL of this folder's running server, started if none answers; the calling process
    keeps it alive until it exits."""
    folder.mkdir(parents=True, exist_ok=True)
    _hold_shared(folder)
    with open(folder / "server.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        url = _running_url(folder, patience=HEALTH_PATIENCE_SECONDS)
        if url is None:
            url = _wait_ready(folder, _spawn(folder, idle_seconds))
    return url


def use_shared_server(prefect_home: Path, idle_seconds: float) -> str | None:
    """Point this process's Prefect at the shared server (through a profile, read when Prefect is
    first imported). Nothing is done in server mode (``PREFECT_API_URL`` set), when the operator
    chose a profile file, or when sharing is off (``idle_seconds`` 0: Prefect's ephemeral API)."""
    if os.environ.get("PREFECT_API_URL") or os.environ.get("PREFECT_PROFILES_PATH") or idle_seconds <= 0:
        return None
    if "prefect" in sys.modules:
        return None  # Prefect read its settings already; it keeps its ephemeral API
    url = shared_server_url(prefect_home, idle_seconds)
    os.environ["PREFECT_PROFILES_PATH"] = str(prefect_home / "profile.toml")
    return url


def stop_shared_server(folder: Path, timeout: float = 60.0) -> bool:
    """Stop the folder's server (SIGTERM to the pid it recorded) and wait for it to go; False if
    none was running. For benchmarks and tests; people leave it to stop when idle."""
    try:
        pid = int(json.loads((folder / "server.json").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _is_alive(pid):
        time.sleep(0.1)
    return True


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _proc_state(pid)


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


# --- the server process ----------------------------------------------------------------------

def _write_state(folder: Path, url: str) -> None:
    # plain HTTP on loopback: no TLS, so clients skip loading the CA bundle (0.1-0.2 s each)
    profile = (f'active = "juanzong-local"\n\n[profiles.juanzong-local]\nPREFECT_API_URL = "{url}"\n'
               'PREFECT_API_TLS_INSECURE_SKIP_VERIFY = true\n')
    for name, text in (("profile.toml", profile), ("server.json", json.dumps({"pid": os.getpid(), "url": url}))):
        tmp = folder / f".{name}.{os.getpid()}"
        tmp.write_text(text)
        os.replace(tmp, folder / name)


def _is_unused(users: IO[bytes]) -> bool:
    """No command holds a shared lock; on True this process holds the exclusive one."""
    try:
        fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _watch_idle(server, folder: Path, idle_seconds: float) -> None:
    """Stop the server once no command has held a shared lock for ``idle_seconds``."""
    users = open(folder / "server.users", "a+b")
    last_used = time.time()
    while not server.should_exit:
        time.sleep(min(2.0, idle_seconds / 4))
        if not _is_unused(users):
            last_used = time.time()
            continue
        if time.time() - last_used >= idle_seconds:
            server.should_exit = True  # the exclusive lock is held until this process exits
            return
        fcntl.flock(users, fcntl.LOCK_UN)


def serve(folder: Path, idle_seconds: float) -> None:
    """Run Prefect's API on a free loopback port until idle (``python -m flows._prefect_server``)."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/api"
    config = uvicorn.Config("prefect.server.api.server:create_app", factory=True, lifespan="on",
                            log_level="error")
    server = uvicorn.Server(config)
    threading.Thread(target=_watch_idle, args=(server, folder, idle_seconds), daemon=True).start()
    threading.Thread(target=_announce_when_healthy, args=(folder, url), daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        _forget(folder)


def _announce_when_healthy(folder: Path, url: str) -> None:
    """Write server.json and the profile once the API answers, so no command sees a half-started server."""
    while not _is_healthy(url):
        time.sleep(0.05)
    _write_state(folder, url)


def _forget(folder: Path) -> None:
    try:
        if json.loads((folder / "server.json").read_text())["pid"] == os.getpid():
            (folder / "server.json").unlink()
    except (OSError, ValueError, KeyError):
        pass


if __name__ == "__main__":
    serve(Path(sys.argv[1]), float(sys.argv[2]))
