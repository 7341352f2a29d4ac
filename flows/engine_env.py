"""Prefect's environment for every Juanzong process (CLI, API, worker): set once at the edge.

Courts run offline networks, so Prefect's anonymous usage reporting and telemetry are off
unless an operator turns them on. Flow and task logs at INFO reach the Prefect API (the
server's log view); only the console handler is kept at WARNING so that ``--json`` output and
a person's terminal stay clean. Without ``PREFECT_API_URL`` Prefect keeps its state under the
archive's home.
"""

from __future__ import annotations

import os
from pathlib import Path

from config import Settings

OFFLINE = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
    "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
    "PREFECT_CLI_PROMPT": "false",
    "DO_NOT_TRACK": "1",
}
LOGGING = {
    "PREFECT_LOGGING_LEVEL": "INFO",
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
    "PREFECT_LOGGING_TO_API_ENABLED": "true",
}
OCR_TAG = "ocr"  # task tag whose concurrency limit is the pool's OCR slots
HEARTBEAT_SECONDS = 30  # Prefect's minimum; the zombie automation waits three of them


def configure_prefect(settings: Settings) -> None:
    """Set Prefect's variables unless the operator set them already (``setdefault``)."""
    os.environ.setdefault("PREFECT_HOME", str(settings.home / "prefect"))
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    for name, value in {**OFFLINE, **LOGGING}.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", str(HEARTBEAT_SECONDS))
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def is_server_configured() -> bool:
    """A Prefect server is configured (``PREFECT_API_URL``); otherwise flows run in-process."""
    return bool(os.environ.get("PREFECT_API_URL"))
