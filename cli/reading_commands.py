"""CLI commands of the reading service: ``requests list|approve|refuse``, ``lawyers authorise``
and ``principals add`` (API keys for the reading service and archivists).

``register(app, get_settings)`` adds them to the ``juanzong`` Typer app; errors are raised as
``JuanzongError`` and become exit codes in ``cli.main.main``. With ``--json`` each command
prints exactly one JSON object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

import typer

from config import Settings
from dissemination import requests as rq
from dissemination.notify import OutboxNotifier
from cli._output import JsonOpt
from cli._output import emit as _emit

AsOpt = typer.Option(..., "--as", help="The archivist's principal id, e.g. archivist:wang.")




def _line(v: rq.RequestView) -> str:
    by = f" by {v.decided_by}" if v.decided_by else ""
    return f"{v.request_id}  {v.status}{by}  {v.case_number}  {v.role} {v.requester_name}  {v.reason}"


def _register_requests(app: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    sub = typer.Typer(help="Reading requests: the archivist's queue and decisions.")
    app.add_typer(sub, name="requests")

    @sub.command("list")
    def list_(status: Optional[str] = typer.Option(None, "--status",
                                                   help="e.g. pending_approval, issued, refused"),
              as_json: bool = JsonOpt) -> None:
        """Reading requests, oldest first."""
        views = rq.list_requests(get_settings().catalog_url, status)
        _emit({"requests": [v.model_dump(mode="json") for v in views]}, as_json,
              "\n".join(map(_line, views)) or "no requests")

    @sub.command("approve")
    def approve(request_id: str, as_: str = AsOpt, as_json: bool = JsonOpt) -> None:
        """Approve a pending request: issue the copy and notify the requester."""
        from flows.disseminate import issue_request

        s = get_settings()
        view, files = rq.approve(s.catalog_url, request_id, principal_id=as_,
                                 issue=lambda rid: issue_request(rid, s),
                                 notifier=OutboxNotifier(s.catalog_url), four_eyes=s.four_eyes_approval)
        _emit({"request": view.model_dump(mode="json"), "files": files, "delivery": _deliver(s)}, as_json,
              _line(view) + "".join(f"\n  {f}" for f in files))

    @sub.command("refuse")
    def refuse(request_id: str, as_: str = AsOpt,
               reason: str = typer.Option(..., "--reason", help="Told to the requester."),
               as_json: bool = JsonOpt) -> None:
        """Refuse a pending request with a reason; the requester is notified."""
        s = get_settings()
        view = rq.refuse(s.catalog_url, request_id, principal_id=as_, reason=reason,
                         notifier=OutboxNotifier(s.catalog_url))
        _emit({"request": view.model_dump(mode="json"), "delivery": _deliver(s)}, as_json, _line(view))


def _deliver(settings: Settings) -> dict:
    """Deliver the outbox right after a decision; a sender failure leaves messages pending."""
    from flows.notifications import send_notifications

    return send_notifications(settings).model_dump()


def _register_notifications(app: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    sub = typer.Typer(help="Messages to requesters: the outbox and its delivery.")
    app.add_typer(sub, name="notifications")

    @sub.command("send")
    def send(as_json: bool = JsonOpt) -> None:
        """Deliver every pending message to the spool folder; exit 1 if some stay pending."""
        out = _deliver(get_settings())
        text = f"sent {len(out['sent'])}" + "".join(f"\nstill pending {i}: {e}" for i, e in out["failed"].items())
        _emit(out, as_json, text, 1 if out["failed"] else 0)

    @sub.command("list")
    def list_(status: Optional[str] = typer.Option(None, "--status", help="pending | sent"),
              as_json: bool = JsonOpt) -> None:
        """Outbox messages, oldest first."""
        from sqlmodel import select

        from archive.catalog import session
        from archive.catalog.models import Notification

        with session(get_settings().catalog_url) as s:
            query = select(Notification).order_by(Notification.created_at)
            rows = s.exec(query if status is None else query.where(Notification.status == status)).all()
        items = [r.model_dump(mode="json") for r in rows]
        _emit({"notifications": items}, as_json,
              "\n".join(f"{r['id']} {r['status']} {r['recipient']} {r['subject']}" for r in items) or "none")


def _register_lawyers(app: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    sub = typer.Typer(help="Lawyers' authorisations (委托书) on file.")
    app.add_typer(sub, name="lawyers")

    @sub.command("authorise")
    def authorise(case: str = typer.Option(..., "--case"), name: str = typer.Option(..., "--name"),
                  licence: str = typer.Option(..., "--licence"),
                  party: str = typer.Option(..., "--party", help="The party the lawyer represents."),
                  as_json: bool = JsonOpt) -> None:
        """Record that a lawyer (name, licence number) is authorised for a case."""
        auth_id = rq.authorise_lawyer(get_settings().catalog_url, case_number=case, lawyer_name=name,
                                      licence_number=licence, party_name=party)
        _emit({"id": auth_id, "case_number": case, "lawyer_name": name, "licence_number": licence,
               "party_name": party}, as_json, f"lawyer {name} ({licence}) authorised for {case}")


def _register_principals(app: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    sub = typer.Typer(help="API keys of the reading service and archivists.")
    app.add_typer(sub, name="principals")

    @sub.command("add")
    def add(name: str, kind: str = typer.Option(..., "--kind", help="service | archivist"),
            as_json: bool = JsonOpt) -> None:
        """Create a principal and print its API key (shown this once, stored hashed)."""
        from api.reading import add_principal

        if kind not in ("service", "archivist"):
            raise typer.BadParameter(f"--kind must be service or archivist, not {kind}")
        roles = [rq.ARCHIVIST] if kind == "archivist" else ["reading-service"]
        key = add_principal(get_settings().catalog_url, name, kind=kind, roles=roles)
        _emit({"principal": f"{kind}:{name}", "api_key": key}, as_json,
              f"{kind}:{name} added; API key (shown once, keep it safe):\n{key}")


def register(app: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    """Add ``requests …``, ``notifications …``, ``lawyers authorise`` and ``principals add`` to the
    ``juanzong`` app."""
    _register_requests(app, get_settings)
    _register_notifications(app, get_settings)
    _register_lawyers(app, get_settings)
    _register_principals(app, get_settings)
