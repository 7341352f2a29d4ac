"""CLI commands of the submission paths: ``watch``, ``quarantine …`` and ``stations add``.

``register(app, get_settings)`` adds them to the ``juanzong`` Typer app; errors are raised as
``JuanzongError`` and turned into exit codes by ``cli.main.main``. With ``--json`` each
command prints one JSON object (``watch`` without ``--once`` prints one line per batch).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import typer

from config import Settings
from api.stations import add_station, certify_station
from ingest.station_signature import load_station_certificate
from flows.submission import flow_submit
from ingest.intake import SubmissionResult
from cli._output import JsonOpt
from cli._output import emit as _emit
from schemas.errors import ExitCode, JuanzongError





def _line(r: SubmissionResult) -> str:
    extra = f" quarantine {r.quarantine_id}" if r.quarantine_id else ""
    error = f" {r.error['code']}: {r.error['message']}" if r.error else ""
    return f"{r.batch_id}: {r.status}, {len(r.problems)} problems{extra}{error}"


def _exit_code(results: list[SubmissionResult]) -> int:
    return ExitCode.ok if all(r.status == "archived" for r in results) else ExitCode.rejected


def _register_watch(app: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    @app.command()
    def watch(folder: Path = typer.Argument(..., help="The hot folder stations copy batches into."),
              once: bool = typer.Option(False, "--once", help="Scan twice, take what is ready, exit."),
              interval: float = typer.Option(5.0, "--interval", help="Seconds between scans."),
              stale_after: float = typer.Option(300.0, "--stale-after",
                                                help="Take an incomplete but unchanging batch after this many seconds."),
              as_json: bool = JsonOpt) -> None:
        """Take complete, stable batches from FOLDER, ingest them, write <batch>.result.json."""
        from flows._runtime import claim_locks
        from ingest.hotfolder import watch as run

        if not folder.is_dir():
            raise JuanzongError("E153", str(folder), reason="not a folder")
        s = get_settings()

        def report(r: SubmissionResult) -> None:
            if not once:
                print(r.model_dump_json() if as_json else _line(r), flush=True)

        results = run(folder.absolute(), flow_submit(s), intake_root=s.intake_root,
                      quarantine_root=s.quarantine_root, once=once, interval=interval,
                      stale_after=stale_after, on_result=report, locks=claim_locks(s))
        _emit({"results": [r.model_dump(mode="json") for r in results]}, as_json,
              "\n".join(map(_line, results)) or "no batch was ready", _exit_code(results))


def _register_quarantine(app: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    from ingest import quarantine as q

    sub = typer.Typer(help="Rejected batches, kept whole with their problem reports.")
    app.add_typer(sub, name="quarantine")

    @sub.command("list")
    def list_(all_: bool = typer.Option(False, "--all", help="Include released and discarded."),
              as_json: bool = JsonOpt) -> None:
        """Batches in quarantine, oldest first."""
        entries = q.list_entries(get_settings().quarantine_root, include_closed=all_)
        text = "\n".join(f"{e.id}  {e.status}  {e.station_id or '-'}  {len(e.problems)} problems"
                         for e in entries) or "quarantine is empty"
        _emit({"entries": [e.model_dump(exclude={"problems", "history"}) | {"problem_count": len(e.problems)}
                           for e in entries]}, as_json, text)

    @sub.command("show")
    def show(qid: str, as_json: bool = JsonOpt) -> None:
        """The problem report (中文 and English) and where the batch lies for fixing."""
        root = get_settings().quarantine_root
        entry = q.load_entry(root, qid)
        path = q.batch_path(root, entry)
        _emit(entry.model_dump() | {"batch_path": str(path)}, as_json,
              q.render_text(entry) + f"\nbatch: {path}")

    @sub.command("release")
    def release(qid: str, as_: Optional[str] = typer.Option(None, "--as", help="Principal id."),
                ingest: bool = typer.Option(True, "--ingest/--no-ingest",
                                            help="Ingest the released batch right away."),
                as_json: bool = JsonOpt) -> None:
        """Send a (fixed) batch back to intake, and by default ingest it again."""
        from flows._runtime import claim_locks
        from ingest.intake import run_submission

        s = get_settings()
        entry, dest = q.release(s.quarantine_root, qid, s.intake_root, by=as_)
        obj: dict[str, Any] = {"id": entry.id, "status": entry.status, "intake_path": str(dest)}
        if not ingest:
            _emit(obj, as_json, f"{qid} released to {dest}")
        result = run_submission(dest, flow_submit(s), quarantine_root=s.quarantine_root,
                                locks=claim_locks(s))
        _emit(obj | {"result": result.model_dump(mode="json")}, as_json, _line(result),
              _exit_code([result]))

    @sub.command("discard")
    def discard(qid: str, as_: str = typer.Option(..., "--as", help="An archivist's principal id."),
                reason: str = typer.Option(..., "--reason", help="Why the batch is discarded."),
                as_json: bool = JsonOpt) -> None:
        """Delete a quarantined batch (archivists only; recorded as a PREMIS deletion event)."""
        s = get_settings()
        entry = q.discard(s.quarantine_root, qid, principal_id=as_, reason=reason,
                          catalog_url=s.catalog_url)
        _emit({"id": entry.id, "status": entry.status}, as_json, f"{qid} discarded")


def _register_stations(app: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    sub = typer.Typer(help="Scanning stations and their API keys.")
    app.add_typer(sub, name="stations")

    @sub.command("add")
    def add(name: str, court: str = typer.Option("", "--court"),
            cert: Optional[Path] = typer.Option(None, "--cert", help="The PEM certificate the station signs "
                                                "manifests with; without it the station can submit through "
                                                "the CLI only, as an unauthenticated source."),
            as_json: bool = JsonOpt) -> None:
        """Register a station and print its new API key (shown this once, stored hashed)."""
        certificate = load_station_certificate(cert) if cert else None
        key = add_station(get_settings().catalog_url, name, court=court, certificate=certificate)
        _emit({"station": name, "api_key": key, "certificate": str(cert) if cert else None}, as_json,
              f"station {name} added; API key (shown once, keep it safe):\n{key}")

    @sub.command("certify")
    def certify(name: str, cert: Path = typer.Option(..., "--cert", help="PEM certificate."),
                as_json: bool = JsonOpt) -> None:
        """Register (another) certificate for an existing station: its manifests must then be signed."""
        certify_station(get_settings().catalog_url, name, load_station_certificate(cert))
        _emit({"station": name, "certificate": str(cert)}, as_json, f"station {name}: {cert} registered")


def _register_station_side(app: typer.Typer) -> None:
    sub = typer.Typer(help="The scanning station's side.")
    app.add_typer(sub, name="station")

    @sub.command("sign")
    def sign(batch_dir: Path = typer.Argument(..., help="The batch folder with manifest.json."),
             key: Path = typer.Option(..., "--key", help="The station's PEM private key (mode 0600)."),
             cert: Path = typer.Option(..., "--cert", help="The station's PEM certificate."),
             chain: Optional[Path] = typer.Option(None, "--chain", help="Issuer certificates, if any."),
             as_json: bool = JsonOpt) -> None:
        """Sign BATCH_DIR/manifest.json: writes manifest.json.p7s (detached CMS) beside it."""
        from ingest.station_signature import sign_manifest

        target = sign_manifest(batch_dir, key, cert, chain)
        _emit({"signature": str(target)}, as_json, f"signed: {target}")


def register(app: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    """Add ``watch``, ``quarantine …`` and ``stations add`` to the ``juanzong`` app."""
    _register_watch(app, get_settings)
    _register_quarantine(app, get_settings)
    _register_stations(app, get_settings)
    _register_station_side(app)
