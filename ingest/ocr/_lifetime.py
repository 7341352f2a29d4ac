"""OCR worker processes end with the process that started them.

The pool's workers are children of the forkserver, not of the flow process, and each holds
both ends of the pool's queues: when the flow process is killed (SIGKILL, OOM, a worker
machine's supervisor) they would block on the queue for ever, orphaned. Each worker watches
the flow process instead and exits once it is gone.
"""

from __future__ import annotations

import os
import threading
import time

CHECK_EVERY = 1.0  # seconds


def is_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (0 or less names a process group, never one process)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def exit_with(pid: int) -> None:
    """Pool initializer: a daemon thread ends this process when ``pid`` has ended."""

    def watch() -> None:
        while is_alive(pid):
            time.sleep(CHECK_EVERY)
        os._exit(70)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
