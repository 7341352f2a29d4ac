"""CLI commands of the archival side: ``log verify``, ``log sign-head``, ``check4``, ``archive-case``,
``deploy``, ``worker``.

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


def _check4_report(s: Settings, target: str, stage: str, premis_xsd: Optional[Path], trust: list[Path]):
    """GD and BC check the stored AIP ``target``; YJ checks the transfer package at path ``target``."""
    from archive.catalog import session
    from archive.catalog.models import Aip
    from schemas.errors import JuanzongError, NotFound

    if stage not in ("GD", "YJ", "BC"):
        raise JuanzongError("E900", "--stage", reason=f"{stage!r} is not GD, YJ or BC")
    if stage == "YJ":
        from archive.check4 import manual_codes
        from archive.check4_signoff import signoffs_for
        from archive.transfer.check4_yj import run_check4_yj
        from archive.transfer.verify import verify_transfer_package
        from cli.transfer_commands import trusted_for_package

        if not Path(target).is_dir():
            raise NotFound("E730", target, reason="not a transfer package folder")
        trusted = trusted_for_package(s, trust)
        digest = verify_transfer_package(Path(target), trusted).digest
        with session(s.catalog_url) as db:
            signoffs = signoffs_for(db, digest, manual_codes("YJ"))
        return run_check4_yj(Path(target), trusted=trusted, signoffs=signoffs)
    from flows.archive_case import check4_for

    with session(s.catalog_url) as db:
        if db.get(Aip, target) is None:
            raise NotFound("E406", target)
    return check4_for(s, target, stage, premis_xsd)


def _register_check4(app: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    @app.command("check4")
    def check4(target: str = typer.Argument(..., help="AIP id (GD, BC) or transfer package folder (YJ)."),
               stage: str = typer.Option("GD", "--stage", help="GD | YJ | BC"),
               premis_xsd: Optional[Path] = typer.Option(None, "--premis-xsd",
                                                         help="Another PREMIS XSD than the one shipped."),
               trust: list[Path] = typer.Option([], "--trust", help="YJ: PEM certificate of the sender."),
               as_json: bool = JsonOpt) -> None:
        """四性检测 (DA/T 70-2018) of one stage; exit 4 unless every item passed (failed or open items)."""
        from flows.archive_case import keep_report

        s = get_settings()
        report = _check4_report(s, target, stage, premis_xsd, trust)
        path = keep_report(s, report)
        obj = {**report.model_dump(mode="json"), "status": report.status, "ok": report.ok,
               "failed": report.failed, "open": report.open, "summary": report.summary(), "report": str(path)}
        lines = [f"{i.code:8} {i.outcome:15} {i.title_zh}  {'; '.join(i.evidence)[:160]}" for i in report.items]
        _emit(obj, as_json, "\n".join(lines + [f"status: {report.status}", f"report: {path}"]),
              ExitCode.ok if report.ok else ExitCode.verification_failed)

    @app.command("check4-signoff")
    def check4_signoff(target: str = typer.Argument(..., help="AIP id (GD, BC) or transfer package folder (YJ)."),
                       stage: str = typer.Option(..., "--stage", help="GD | YJ | BC"),
                       item: str = typer.Option(..., "--item", help="A manual item, e.g. 2-11 or GD-2-11."),
                       by: str = typer.Option(..., "--by", help="The person's principal id (archivist or auditor)."),
                       decision: str = typer.Option(..., "--decision", help="pass | fail"),
                       note: str = typer.Option(..., "--note", help="What was checked and found."),
                       as_json: bool = JsonOpt) -> None:
        """Sign off a manual item for the AIP's head version (or the package): logged, named, dated."""
        from archive.catalog import session
        from archive.check4 import manual_codes
        from archive.check4_signoff import sign_off
        from schemas.errors import InputRejected

        s = get_settings()
        code = item if item.startswith(f"{stage}-") else f"{stage}-{item}"
        if code not in manual_codes(stage):  # type: ignore[arg-type]
            raise InputRejected("E700", target, found=code)
        if decision not in ("pass", "fail"):
            raise InputRejected("E700", target, found=f"--decision {decision}")
        subject, aip_id = check4_subject(s, target, stage)
        with session(s.catalog_url) as db:
            done = sign_off(db, code=code, subject=subject, by=by, decision=decision, note=note,  # type: ignore[arg-type]
                            aip_id=aip_id)
            db.commit()
        _emit(done.model_dump(mode="json"), as_json, f"{code} {decision} by {done.by} for {subject}")


def check4_subject(s: Settings, target: str, stage: str) -> tuple[str, str | None]:
    """What a sign-off names: ``v<head>`` of an AIP, or the digest of a package's 说明文件."""
    from archive.records import ocfl_id_for
    from flows._runtime import open_store

    if stage == "YJ":
        import hashlib

        from archive.transfer.package import DESCRIPTION
        from schemas.errors import NotFound

        if not (Path(target) / DESCRIPTION).is_file():
            raise NotFound("E730", target, reason=f"no {DESCRIPTION}: not a transfer package")
        return hashlib.sha256((Path(target) / DESCRIPTION).read_bytes()).hexdigest(), None
    return f"v{open_store(s).head(ocfl_id_for(target))}", target


def _register_archive_case(app: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    @app.command("archive-case")
    def archive_case_(case_number: str,
                      archivist: str = typer.Option(..., "--archivist", help="The archivist's principal id."),
                      accept: list[str] = typer.Option([], "--accept-failed", help="A failed GD item to accept (repeatable)."),
                      reason: str = typer.Option("", "--reason", help="Why the failed items are accepted."),
                      as_json: bool = JsonOpt) -> None:
        """归档: assign the 档号, run 四性检测 GD (it must pass, manual items signed off), keep its report
        in a new AIP version."""
        from flows.archive_case import archive_case

        accepted = tuple(a if a.startswith("GD-") else f"GD-{a}" for a in accept)
        res = archive_case(get_settings(), case_number, archivist, accepted=accepted, reason=reason)
        _emit(res.model_dump(), as_json, f"{res.case_number}: 档号 {res.archival_code}, AIP v{res.version}")


def _register_deploy(app: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    @app.command("deploy")
    def deploy(print_only: bool = typer.Option(False, "--print", help="Print the deployment specs and exit."),
               pool: str = typer.Option("juanzong", "--pool", help="The process work pool."),
               pool_limit: Optional[int] = typer.Option(None, "--pool-limit", min=1,
                                                        help="Flow runs at once across the pool."),
               ocr_slots: int = typer.Option(2, "--ocr-slots", min=1,
                                             help="OCR tasks at once across the pool."),
               as_json: bool = JsonOpt) -> None:
        """Create or update the work pool and every deployment on the Prefect server (idempotent)."""
        from flows.deploy import apply_deployments, deployment_specs
        from flows.engine_env import is_server_configured
        from schemas.errors import JuanzongError

        specs = deployment_specs(get_settings())
        if print_only:
            _emit({"deployments": [s.model_dump(mode="json") for s in specs]}, as_json,
                  "\n".join(f"{s.name}: {s.flow} {s.cron or 'on demand'} {s.parameters}" for s in specs))
        if not is_server_configured():
            raise JuanzongError("E920", "juanzong deploy")
        report = apply_deployments(specs, pool=pool, pool_limit=pool_limit, ocr_slots=ocr_slots)
        _emit(report.model_dump(), as_json,
              f"work pool {report.work_pool}: {len(report.deployments)} deployments, "
              f"{report.ocr_slots} OCR slots; start workers with `juanzong worker`")

    @app.command("worker")
    def worker(name: Optional[str] = typer.Option(None, "--name", help="Worker name (default: host-pid)."),
               pool: str = typer.Option("juanzong", "--pool", help="The process work pool."),
               limit: Optional[int] = typer.Option(None, "--limit", min=1,
                                                   help="Flow runs this worker runs at once.")) -> None:
        """Run a Prefect process worker on the pool, with the archive's Prefect environment."""
        import os
        import shutil
        import sys

        from flows.engine_env import is_server_configured
        from schemas.errors import JuanzongError

        if not is_server_configured():
            raise JuanzongError("E920", "juanzong worker")
        prefect = shutil.which("prefect", path=os.path.dirname(sys.executable)) or "prefect"
        args = [prefect, "worker", "start", "--pool", pool, "--type", "process"]
        args += ["--name", name] if name else []
        os.execv(prefect, args + (["--limit", str(limit)] if limit else []))


def register(app: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    _register_log(app, get_settings)
    _register_check4(app, get_settings)
    _register_archive_case(app, get_settings)
    _register_deploy(app, get_settings)
