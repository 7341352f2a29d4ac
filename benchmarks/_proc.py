"""The stage's whole process tree (this process, its workers, their Tesseracts), sampled every
50 ms: peak resident memory, and CPU seconds (workers live under multiprocessing's
forkserver, so ``RUSAGE_CHILDREN`` of this process never sees them)."""

from __future__ import annotations

import os
import threading
from pathlib import Path


class ProcessTree(threading.Thread):
    """Peak RSS (MB) of this process and all its descendants, and their CPU seconds."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak, self._stop_event = 0.0, threading.Event()
        self.peaks: dict[int, float] = {}  # each process's own peak, MB
        self._roles: dict[int, str] = {}
        self._cpu: dict[int, float] = {}
        self._cpu_before = {pid: _cpu_seconds(pid) for pid in _tree(os.getpid())}

    @property
    def cpu(self) -> float:
        """CPU seconds of the tree since start (up to 50 ms of each short-lived process lost)."""
        return sum(v - self._cpu_before.get(pid, 0.0) for pid, v in self._cpu.items())

    def run(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop_event.wait(0.05):
            pids = _tree(os.getpid())
            rss = {pid: _rss_pages(pid) * page / 1e6 for pid in pids}
            self.peak = max(self.peak, sum(rss.values()))
            for pid in pids:
                self.peaks[pid] = max(self.peaks.get(pid, 0.0), rss[pid])
                if pid not in self._roles:
                    self._roles[pid] = _role(pid)
                self._cpu[pid] = max(self._cpu.get(pid, 0.0), _cpu_seconds(pid))

    def roles(self) -> list[tuple[str, float]]:
        """(this process / forkserver / worker / a program a worker ran, its peak MB), largest
        first: which process a growing peak comes from."""
        return sorted(((self._roles.get(pid, "?"), mb) for pid, mb in self.peaks.items()), key=lambda r: -r[1])

    def __enter__(self) -> ProcessTree:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop_event.set()
        self.join()


def _role(pid: int) -> str:
    if pid == os.getpid():
        return "this process"
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"
    if "forkserver" in command:  # the forkserver and the workers it forked share one command line
        return "forkserver" if _parent(pid) == os.getpid() else "worker"
    return command.split(" ", 1)[0].rsplit("/", 1)[-1]


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _tree(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def _rss_pages(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _cpu_seconds(pid: int) -> float:
    """The process's own utime + stime (reaped children are sampled as processes of their own)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return sum(int(v) for v in fields[11:13]) / os.sysconf("SC_CLK_TCK")
