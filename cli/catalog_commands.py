"""CLI commands of the catalog itself: ``catalog rebuild``.

``register(app, get_settings)`` adds them to the ``juanzong`` Typer app; errors are raised as
``JuanzongError`` and become exit codes in ``cli.main.main``. With ``--json`` each command prints
one JSON object.
"""

from __future__ import annotations

from collections.abc import Callable

import typer

from cli._output import JsonOpt
from cli._output import emit as _emit
from config import Settings


def register(app: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    sub = typer.Typer(help="The catalog: rebuild it from the storage root.")
    app.add_typer(sub, name="catalog")

    @sub.command("rebuild")
    def rebuild(as_json: bool = JsonOpt) -> None:
        """Recreate the catalog from the storage root, the preservation log and the registry
        journal; the old SQLite file is kept aside. Lists what could not be recovered."""
        from flows.rebuild_catalog import rebuild_catalog

        report = rebuild_catalog(get_settings())
        obj = report.model_dump(exclude={"not_recovered"}) | {
            "not_recovered": [p.public() for p in report.not_recovered]}
        counts = ", ".join(f"{k} {obj[k]}" for k in ("cases", "aips", "versions", "documents", "pages", "events"))
        _emit(obj, as_json, "\n".join([f"catalog rebuilt ({counts}); old file: {report.set_aside or '-'}",
                                       *(f"not recovered: {p.message} [{p.code}]" for p in report.not_recovered)]))
