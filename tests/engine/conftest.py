"""Fixtures of the engine tests: Prefect's ephemeral API may be slow to start on a busy machine."""

from __future__ import annotations

import os

os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
