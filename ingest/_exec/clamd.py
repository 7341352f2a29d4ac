"""clamd, ClamAV's daemon: start one on a signature folder and talk to it over its socket.

Files are sent with INSTREAM, so a clamd that cannot read Juanzong's folders (another user, a
court's shared scanner host) scans them all the same. The limits are raised to their maximum
and ``AlertExceedsMax`` is on: a file too large to scan is reported as found
(``Heuristics.Limits.Exceeded``), never passed unscanned.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import struct
import tempfile
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ingest._exec._run import log, require, run, spawn

CHUNK = 1 << 20
LIMIT = "4000M"  # clamd's maximum for every size limit
CONFIG = """LocalSocket {socket}
DatabaseDirectory {db}
Foreground yes
LogFile {state}/clamd.log
PidFile {state}/clamd.pid
TemporaryDirectory {state}
StreamMaxLength {limit}
MaxFileSize {limit}
MaxScanSize {limit}
AlertExceedsMax yes
SelfCheck 0
"""


class ClamdError(RuntimeError):
    """clamd could not be started or did not answer; the message says why."""


@dataclass(frozen=True)
class ScanResult:
    """clamd's answer for one file: a signature name when infected, an error when not scanned."""

    infected: bool
    signature: str = ""
    error: str = ""


@cache
def version() -> str:
    """The installed engine's version (``1.4.6``), from ``clamd --version``."""
    out = run([require("clamd"), "--version"]).stdout.decode()
    match = re.search(r"ClamAV\s+([\d.]+)", out)
    return match.group(1) if match else out.strip()


def _talk(socket_path: Path, command: bytes, payload: Path | None = None, timeout: float = 600) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(str(socket_path))
        conn.sendall(b"z" + command + b"\0")
        if payload is not None:
            with payload.open("rb") as handle:
                for block in iter(lambda: handle.read(CHUNK), b""):
                    conn.sendall(struct.pack(">I", len(block)) + block)
            conn.sendall(struct.pack(">I", 0))
        reply = b""
        while chunk := conn.recv(4096):
            reply += chunk
    return reply.rstrip(b"\0").decode("utf-8", "replace").strip()


def daemon_version(socket_path: Path) -> str:
    """``ClamAV 1.4.6/27123/Tue Dec  1 09:26:02 2026`` (official database) or ``ClamAV 1.4.6``."""
    return _talk(socket_path, b"VERSION", timeout=30)


def is_alive(socket_path: Path) -> bool:
    try:
        return _talk(socket_path, b"PING", timeout=5) == "PONG"
    except OSError:
        return False


def scan_file(socket_path: Path, path: Path, timeout: float = 600) -> ScanResult:
    """Stream one file to clamd (INSTREAM) and read its verdict."""
    try:
        reply = _talk(socket_path, b"INSTREAM", payload=path, timeout=timeout)
    except OSError as exc:
        return ScanResult(infected=False, error=f"clamd: {exc}")
    answer = reply.split(": ", 1)[-1]
    if answer == "OK":
        return ScanResult(infected=False)
    if answer.endswith(" FOUND"):
        return ScanResult(infected=True, signature=answer[: -len(" FOUND")])
    return ScanResult(infected=False, error=answer or "no answer")


def socket_for(state_dir: Path) -> Path:
    """A short socket path (the limit is 107 bytes) that is the same for the same state folder."""
    digest = hashlib.sha256(str(state_dir.absolute()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"juanzong-clamd-{digest}.sock"


def _pid(state_dir: Path) -> int | None:
    try:
        return int((state_dir / "clamd.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def stop(state_dir: Path, timeout: float = 30) -> None:
    """Stop the clamd started on ``state_dir`` (if any) and wait for it to go."""
    pid = _pid(state_dir)
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _running(pid):
        time.sleep(0.1)
    (state_dir / "clamd.pid").unlink(missing_ok=True)


def _running(pid: int) -> bool:
    """Whether ``pid`` still runs; reaps it when it is this process's own exited child."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def start(db_dir: Path, state_dir: Path, timeout: float = 600) -> Path:
    """Start clamd on the signature files in ``db_dir``; return its socket once it answers.

    Loading an official database takes tens of seconds, a few custom signatures well under one."""
    state_dir.mkdir(parents=True, exist_ok=True)
    sock = socket_for(state_dir)
    sock.unlink(missing_ok=True)
    config = state_dir / "clamd.conf"
    config.write_text(CONFIG.format(socket=sock, db=db_dir.absolute(), state=state_dir.absolute(), limit=LIMIT))
    proc = spawn([require("clamd"), "-c", config], log_file=state_dir / "clamd.out")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (state_dir / "clamd.out").read_text(errors="replace").strip().splitlines()[-3:]
            raise ClamdError(f"clamd exited with {proc.returncode}: {' / '.join(tail)}")
        if sock.exists() and is_alive(sock):
            (state_dir / "clamd.pid").write_text(str(proc.pid))
            log.info("clamd %d answers on %s (database %s)", proc.pid, sock, db_dir)
            return sock
        time.sleep(0.2)
    proc.kill()
    raise ClamdError(f"clamd did not answer on {sock} within {timeout:.0f} s")
