"""CLI commands of long-term evidence: ``evidence renew`` and ``evidence verify``.

``register(app, get_settings)`` adds them to the ``juanzong`` Typer app.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Optional

import typer

from cli._output import JsonOpt
from cli._output import emit as _emit
from config import Settings
from schemas.errors import ExitCode


def _moment(at: Optional[str]) -> datetime | None:
    if at is None:
        return None
    moment = datetime.fromisoformat(at)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def register(app: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    sub = typer.Typer(help="Archive timestamps (RFC 4998 evidence records).")
    app.add_typer(sub, name="evidence")

    @sub.command("renew")
    def renew(at: Optional[str] = typer.Option(None, "--at", help="Judge what is due at this ISO time (default now)."),
              as_json: bool = JsonOpt) -> None:
        """Add an archive timestamp, as a new AIP version, wherever a timestamp's TSA certificate
        ends within timestamp_renewal_days or its hash algorithm is retired."""
        from flows.renew_timestamps import renew_timestamps

        res = renew_timestamps(get_settings(), _moment(at))
        lines = [f"{r.aip_id} v{r.version}: {r.renewed}" for r in res.renewed]
        _emit(res.model_dump(mode="json"), as_json, "\n".join(lines) or f"{res.checked} AIPs checked, none due")

    @sub.command("verify")
    def verify(aip_id: str, version: int = typer.Option(..., "--version"),
               at: Optional[str] = typer.Option(None, "--at", help="Check as of this ISO time (e.g. 2086-01-01)."),
               as_json: bool = JsonOpt) -> None:
        """Check that the evidence record proves an AIP version (signature and timestamps)."""
        from flows.aip_queries import verify_version_evidence

        res = verify_version_evidence(get_settings(), aip_id, version, _moment(at))
        _emit(res, as_json, f"{aip_id} v{version}: {'valid' if res['valid'] else 'NOT valid'} ({res['detail']})",
              ExitCode.ok if res["valid"] else ExitCode.verification_failed)
