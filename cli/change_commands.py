"""CLI commands for the changes only an archivist may make (``archive.case_changes``):
``changes list``, ``changes approve``, ``changes refuse``.

``register(app, get_settings)`` adds them to the ``juanzong`` Typer app; errors become exit
codes in ``cli.main.main``. With ``--json`` each command prints one JSON object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

import typer

from cli._output import JsonOpt, emit
from config import Settings

AsOpt = typer.Option(..., "--as", help="The archivist's principal id, e.g. archivist:wang.")


def _line(c) -> str:
    where = c.document_path or c.case_number
    by = f" by {c.decided_by}" if c.decided_by else ""
    return f"{c.change_id}  {c.status}{by}  {c.kind} {where}: {c.old} -> {c.new}  (batch {c.batch_id}, {c.station_id})"


def register(app: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    """Add ``changes list|approve|refuse`` to the ``juanzong`` app."""
    sub = typer.Typer(help="Held changes of volume, disclosure, parties or owning station: "
                           "a batch asks, an archivist decides.")
    app.add_typer(sub, name="changes")

    @sub.command("list")
    def list_(status: Optional[str] = typer.Option("pending", "--status", help="pending | approved | refused | all"),
              case: Optional[str] = typer.Option(None, "--case"), as_json: bool = JsonOpt) -> None:
        """Held changes, oldest first."""
        from flows.case_change import list_changes

        views = list_changes(get_settings(), None if status == "all" else status, case)
        emit({"changes": [v.model_dump(mode="json") for v in views]}, as_json,
             "\n".join(map(_line, views)) or "no changes")

    @sub.command("approve")
    def approve(change_id: str, as_: str = AsOpt, as_json: bool = JsonOpt) -> None:
        """Approve a held change: a new AIP version applies it, logged with the archivist."""
        from flows.case_change import approve_change

        view = approve_change(get_settings(), change_id, as_)
        emit({"change": view.model_dump(mode="json")}, as_json, _line(view))

    @sub.command("refuse")
    def refuse(change_id: str, as_: str = AsOpt,
               reason: str = typer.Option(..., "--reason", help="Told to the station."),
               as_json: bool = JsonOpt) -> None:
        """Refuse a held change; the archived value stays."""
        from flows.case_change import refuse_change

        view = refuse_change(get_settings(), change_id, as_, reason)
        emit({"change": view.model_dump(mode="json")}, as_json, _line(view))
