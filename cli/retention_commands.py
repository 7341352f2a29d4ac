"""CLI commands of retention and disposal: ``retention due|status|appraise|approve|hold|release|dispose|
disposal-list``.

``register(app, get_settings)`` adds them to the ``juanzong`` Typer app; errors are raised as
``JuanzongError`` and become exit codes in ``cli.main.main``. Every decision names a person
(``--by`` a principal id of an archivist or auditor); with ``--json`` each command prints one
JSON object.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Optional

import typer

from cli._output import JsonOpt
from cli._output import emit as _emit
from config import Settings

ByOpt = typer.Option(..., "--by", help="The deciding person's principal id, e.g. archivist:wang.")
ReasonOpt = typer.Option(..., "--reason", help="Why, in words the 销毁清单 can carry.")


def _date(value: Optional[str], default: date | None) -> date | None:
    return date.fromisoformat(value) if value else default


def register(app: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    sub = typer.Typer(help="Retention (保管期限), appraisal, legal holds and disposal (销毁).")
    app.add_typer(sub, name="retention")
    _register_reading(sub, get_settings)
    _register_decisions(sub, get_settings)
    _register_disposal(sub, get_settings)


def _register_reading(sub: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    @sub.command("due")
    def due(as_of: Optional[str] = typer.Option(None, "--as-of", help="YYYY-MM-DD (default today): plan ahead."),
            as_json: bool = JsonOpt) -> None:
        """Cases whose retention ends on or before the day: due date, basis, holds, appraisal."""
        from archive.catalog import session
        from archive.retention import cases_due, today

        day = _date(as_of, today())
        with session(get_settings().catalog_url) as s:
            rows = cases_due(s, day)  # type: ignore[arg-type]
        text = "\n".join(f"{r.due_date} {r.case_number} {r.archival_code or '-'} {r.retention_period} ({r.basis})"
                         f"{' HELD' if r.held else ''} {r.appraisal or ''}" for r in rows) or f"no case due by {day}"
        _emit({"as_of": str(day), "cases": [r.model_dump(mode="json") for r in rows]}, as_json, text)

    @sub.command("status")
    def status(case_number: str, as_json: bool = JsonOpt) -> None:
        """One case's due date, its basis, holds and appraisal."""
        from archive.catalog import session
        from archive.catalog.models import Case
        from archive.retention import status_of, today
        from schemas.errors import NotFound

        with session(get_settings().catalog_url) as s:
            case = s.get(Case, case_number)
            if case is None:
                raise NotFound("E503", case_number)
            row = status_of(s, case, today())
        _emit(row.model_dump(mode="json"), as_json)


def _register_decisions(sub: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    from archive import retention

    def _commit(step: Callable, *args, **kwargs):
        from archive.catalog import session

        with session(get_settings().catalog_url) as s:
            row = step(s, *args, **kwargs)
            s.commit()
            return row.model_dump(mode="json")

    @sub.command("appraise")
    def appraise(case_number: str, decision: str = typer.Option(..., "--decision", help="keep | dispose"),
                 by: str = ByOpt, reason: str = ReasonOpt,
                 keep_years: Optional[int] = typer.Option(None, "--keep-years", help="keep: further years."),
                 as_json: bool = JsonOpt) -> None:
        """鉴定: keep longer or dispose; takes effect once a second person approves it."""
        from schemas.errors import InputRejected

        if decision not in ("keep", "dispose"):
            raise InputRejected("E708", case_number, reason=f"--decision {decision!r} is not keep or dispose")
        row = _commit(retention.appraise, case_number, decision=decision, by=by, reason=reason,
                      keep_years=keep_years, as_of=retention.today())
        _emit(row, as_json, f"appraisal {row['id']}: {decision}, waiting for a second person's approval")

    @sub.command("approve")
    def approve(appraisal_id: str, by: str = ByOpt, as_json: bool = JsonOpt) -> None:
        """A second person approves an appraisal (never the appraiser)."""
        row = _commit(retention.approve, appraisal_id, by=by)
        _emit(row, as_json, f"appraisal {appraisal_id} approved by {by}")

    @sub.command("hold")
    def hold(case_number: str, by: str = ByOpt, reason: str = ReasonOpt, as_json: bool = JsonOpt) -> None:
        """Place a legal hold: the case cannot be disposed of until it is released."""
        row = _commit(retention.place_hold, case_number, by=by, reason=reason)
        _emit(row, as_json, f"hold {row['id']} on {case_number}")

    @sub.command("release")
    def release(case_number: str, by: str = ByOpt, reason: str = ReasonOpt, as_json: bool = JsonOpt) -> None:
        """Release the case's legal hold."""
        row = _commit(retention.release_hold, case_number, by=by, reason=reason)
        _emit(row, as_json, f"hold {row['id']} on {case_number} released")


def _register_disposal(sub: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    @sub.command("dispose")
    def dispose(case_number: str, by: str = ByOpt, as_json: bool = JsonOpt) -> None:
        """销毁 after an approved appraisal: signed tombstone, then storage, replica, index and pages go."""
        from flows.dispose_case import dispose_case

        out = dispose_case(get_settings(), case_number, by)
        _emit(out.model_dump(), as_json, f"{case_number} disposed of; tombstone {out.tombstone}")

    @sub.command("disposal-list")
    def disposal_list(out: Path = typer.Option(..., "--out", help="The HTML file to write."),
                      start: Optional[str] = typer.Option(None, "--from", help="YYYY-MM-DD"),
                      end: Optional[str] = typer.Option(None, "--to", help="YYYY-MM-DD"),
                      as_json: bool = JsonOpt) -> None:
        """销毁清单 of a period, in Chinese, from the catalog's tombstones."""
        from archive.catalog import session
        from archive.disposal_list import disposal_rows, render_disposal_list

        s_, first, last = get_settings(), _date(start, None), _date(end, None)
        with session(s_.catalog_url) as s:
            rows = disposal_rows(s, first, last)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_disposal_list(rows, fonds=s_.fonds_code, start=first, end=last), encoding="utf-8")
        _emit({"path": str(out), "cases": [r.body.case_number for r in rows]}, as_json,
              f"销毁清单 of {len(rows)} cases: {out}")
