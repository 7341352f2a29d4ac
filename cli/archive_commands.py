"""CLI commands of the archival side: ``log verify``, ``log sign-head``, ``check4``, ``archive-case``,
``deploy``.

``register(app, get_settings)`` adds them to the ``juanzong`` Typer app; errors are raised as
``JuanzongError`` and turned into exit codes by ``cli.main.main``. With ``--json`` each command
prints one JSON object.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Optional

import typer

from config import Settings
from cli._output import JsonOpt
from cli._output import emit as _emit
from schemas.errors import ExitCode


def _register_log(app: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    sub = typer.Typer(help="The hash-chained audit log of preservation actions.")
    app.add_typer(sub, name="log")

    @sub.command("verify")
    def verify(as_json: bool = JsonOpt) -> None:
        """Check every entry's digest and link, every signed head, and against the catalog's record
        of heads and events (a removed tail or day); exit 4 at the first break."""
        from archive.auditlog import catalog_expectation, verify_log
        from flows._runtime import trusted_certificates

        s = get_settings()
        res = verify_log(s.log_dir, trusted_certificates(s), catalog_expectation(s.catalog_url))
        obj = {"ok": res.ok, "entries": res.entries, "head_digest": res.head_digest,
               "heads_checked": res.heads_checked, "first_bad_seq": res.first_bad_seq,
               "missing_days": res.missing_days, "problems": [p.public() for p in res.problems]}
        text = (f"audit log intact: {res.entries} entries, {res.heads_checked} signed heads" if res.ok else
                "\n".join(f"{p.code} {p.message}" for p in res.problems))
        _emit(obj, as_json, text, ExitCode.ok if res.ok else ExitCode.verification_failed)

    @sub.command("sign-head")
    def sign_head_(as_json: bool = JsonOpt) -> None:
        """Sign today's chain head into log/heads/YYYY-MM-DD.json(.p7s)."""
        from archive.auditlog import sign_head
        from flows._runtime import open_signer

        s = get_settings()
        path, head = sign_head(s.log_dir, open_signer(s), catalog_url=s.catalog_url)
        _emit({"head": str(path), "seq": head.seq, "digest": head.digest}, as_json,
              f"signed head {head.seq} {head.digest} -> {path}")


def _register_check4(app: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    @app.command("check4")
    def check4(aip_id: str, stage: str = typer.Option("GD", "--stage", help="GD | YJ | BC"),
               premis_xsd: Optional[Path] = typer.Option(None, "--premis-xsd",
                                                         help="PREMIS 3.0 XSD to validate premis.xml against."),
               as_json: bool = JsonOpt) -> None:
        """四性检测 (DA/T 70-2018) of one AIP; exit 4 when an item fails."""
        from archive.catalog import session
        from archive.catalog.models import Aip
        from flows.archive_case import check4_for, keep_report
        from schemas.errors import JuanzongError, NotFound

        if stage not in ("GD", "YJ", "BC"):
            raise JuanzongError("E900", "--stage", reason=f"{stage!r} is not GD, YJ or BC")
        s = get_settings()
        with session(s.catalog_url) as db:
            if db.get(Aip, aip_id) is None:
                raise NotFound("E406", aip_id)
        report = check4_for(s, aip_id, stage, premis_xsd)
        path = keep_report(s, report)
        obj = {**report.model_dump(mode="json"), "ok": report.ok, "summary": report.summary(), "report": str(path)}
        lines = [f"{i.code:8} {i.outcome:15} {i.title_zh}  {'; '.join(i.evidence)[:160]}" for i in report.items]
        _emit(obj, as_json, "\n".join(lines + [f"report: {path}"]),
              ExitCode.ok if report.ok else ExitCode.verification_failed)


def _register_archive_case(app: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    @app.command("archive-case")
    def archive_case_(case_number: str, archivist: str = typer.Option("archivist", "--archivist"),
                      as_json: bool = JsonOpt) -> None:
        """归档: assign the 档号, run 四性检测 GD, keep its report in a new AIP version."""
        from flows.archive_case import archive_case

        res = archive_case(get_settings(), case_number, archivist)
        _emit(res.model_dump(), as_json, f"{res.case_number}: 档号 {res.archival_code}, AIP v{res.version}")


def _register_deploy(app: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    @app.command("deploy")
    def deploy(print_only: bool = typer.Option(False, "--print", help="Print the deployment specs and exit."),
               hot_folder: Optional[Path] = typer.Option(None, "--hot-folder", help="Also deploy `watch` on it."),
               as_json: bool = JsonOpt) -> None:
        """Prefect deployments: scheduled audits, daily log head, the hot folder watcher."""
        from flows.deploy import deployment_specs, serve_deployments

        specs = deployment_specs(get_settings(), hot_folder=hot_folder)
        if print_only:
            _emit({"deployments": [s.model_dump(mode="json") for s in specs]}, as_json,
                  "\n".join(f"{s.name}: {s.flow} {s.schedule} {s.parameters}" for s in specs))
        serve_deployments(get_settings(), specs)


def register(app: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    _register_log(app, get_settings)
    _register_check4(app, get_settings)
    _register_archive_case(app, get_settings)
    _register_deploy(app, get_settings)
