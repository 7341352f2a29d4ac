"""The one place that starts child processes: logs every call and its outcome."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

log = logging.getLogger("juanzong.exec")


class ToolMissing(RuntimeError):
    """A required program is not installed; the message names it (code E901)."""


def require(program: str) -> str:
    """The absolute path of ``program`` on PATH, or ToolMissing naming it."""
    found = shutil.which(program)
    if found is None:
        raise ToolMissing(f"{program}: not found on PATH")
    return found


def run(
    args: Sequence[str | Path],
    *,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
    stdin: bytes | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run a program with captured output; ``env`` adds to the inherited environment.

    Raises ``subprocess.TimeoutExpired`` or, with ``check``, ``CalledProcessError``;
    both are logged first so the log tells which page's child failed and why.
    """
    argv = [os.fspath(a) for a in args]
    full_env = {**os.environ, **env} if env else None
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            argv, input=stdin, capture_output=True, timeout=timeout, env=full_env, cwd=cwd, check=False
        )
    except subprocess.TimeoutExpired:
        log.warning("timeout after %.1fs: %s", time.perf_counter() - started, " ".join(argv))
        raise
    elapsed = time.perf_counter() - started
    log.debug("exit %d in %.2fs: %s", proc.returncode, elapsed, " ".join(argv))
    if check and proc.returncode != 0:
        log.warning("exit %d: %s: %s", proc.returncode, " ".join(argv), proc.stderr[-500:].decode(errors="replace"))
        raise subprocess.CalledProcessError(proc.returncode, argv, proc.stdout, proc.stderr)
    return proc


def spawn(args: Sequence[str | Path], *, log_file: Path, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a long-running program (a daemon kept in the foreground), its output to ``log_file``;
    the caller owns the process and stops it."""
    argv = [os.fspath(a) for a in args]
    with log_file.open("ab") as log_handle:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log_handle, stderr=subprocess.STDOUT,
                                cwd=cwd, start_new_session=True)
    log.info("started pid %d: %s", proc.pid, " ".join(argv))
    return proc
