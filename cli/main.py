"""The ``juanzong`` command: the edge where settings are read, flows run in-process (on the
local Prefect server the commands of one ``PREFECT_HOME`` share, ``flows._prefect_server``),
and exceptions become one sentence and an exit code.

With ``--json`` every command prints exactly one JSON object on stdout; progress and logs
go to stderr.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from flows.engine_env import configure_prefect
from config.settings import Settings, SettingsError, load_settings
from cli._output import JsonOpt, emit
from schemas.errors import ExitCode, JuanzongError, is_no_space, no_space_error

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Juanzong 卷宗: electronic archive for people's courts.")
keys_app = typer.Typer(help="Signing keys.")
app.add_typer(keys_app, name="keys")
err = Console(stderr=True)


class State:
    settings: Settings


def _settings() -> Settings:
    return State.settings




def _table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    t = Table(title=title)
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*[str(v) for v in r])
    return t


@app.command()
def ingest(batch_dir: Path = typer.Argument(..., help="A station batch folder with manifest.json."),
           no_wait: bool = typer.Option(False, "--no-wait",
                                        help="With a Prefect server: submit and print {flow_run_id}."),
           as_json: bool = JsonOpt) -> None:
    """Validate, OCR, package, sign, store, catalog and index one station batch.

    With PREFECT_API_URL and the deployments applied (`juanzong deploy`) the batch becomes a flow
    run of `ingest-batch` on the work pool; otherwise it runs in this process."""
    from cli._progress import ingest_with_progress
    from flows.remote_runs import is_server_mode, submit_run

    if not batch_dir.is_dir():
        raise JuanzongError("E100", str(batch_dir))
    remote = is_server_mode()
    if no_wait:
        if not remote:
            raise JuanzongError("E920", "juanzong ingest --no-wait")
        run_id = submit_run(batch_dir.absolute())
        emit({"flow_run_id": str(run_id)}, as_json, f"submitted flow run {run_id}")
    out = ingest_with_progress(_settings(), batch_dir.absolute(), remote=remote, show=not as_json)
    code = ExitCode.ok if out.status == "archived" else ExitCode.rejected
    rows = [[a.aip_id, a.case_number, a.version, "new" if a.created else "unchanged"]
            for a in out.aips] + [[p["code"], p["path"], p["message"], ""] for p in out.problems]
    emit(out.model_dump(mode="json", exclude={"aips": {"__all__": {"created"}}}), as_json,
         _table(f"batch {out.batch_id}: {out.status}", ["AIP / code", "case / path", "version / message", ""], rows),
         code)


@app.command()
def search(query: str, case: Optional[str] = typer.Option(None, "--case"),
           as_: Optional[str] = typer.Option(None, "--as", help="ROLE:PRINCIPAL_ID, e.g. party:440103…"),
           size: int = typer.Option(10, "--size"), offset: int = typer.Option(0, "--offset"),
           as_json: bool = JsonOpt) -> None:
    """Full-text search over the archive, filtered by what the principal may see."""
    from dissemination.search_access import search_as

    result = search_as(_settings(), query, as_, case=case, size=size, offset=offset)
    obj = {"total": result.total, "hits": [h.model_dump() for h in result.hits]}
    emit(obj, as_json, _table(f"{result.total} hits", ["case", "document", "page", "highlight"],
                              [[h.case_number, h.title, h.page, h.highlight] for h in result.hits]))


@app.command()
def disseminate(case: str = typer.Option(..., "--case"),
                requester_name: str = typer.Option(..., "--requester-name"),
                requester_id: str = typer.Option(..., "--requester-id"),
                role: str = typer.Option(..., "--role", help="party | lawyer | archivist"),
                licence: Optional[str] = typer.Option(None, "--licence"),
                out: Path = typer.Option(..., "--out"),
                by: Optional[str] = typer.Option(None, "--by", help="Who asks, e.g. archivist:wang: "
                                                 "they may not approve it themselves."),
                as_json: bool = JsonOpt) -> None:
    """Issue a watermarked, sealed reading copy of a case's disclosable documents."""
    from dissemination.access import Requester
    from flows.disseminate import ReadingRequest, disseminate as run

    if role not in ("party", "lawyer", "archivist"):
        raise JuanzongError("E504", case, found=role)
    requester = Requester(name=requester_name, id_number=requester_id, role=role,
                          licence_number=licence)
    res = run(ReadingRequest(case_number=case, requester=requester, out_dir=out.absolute(), created_by=by),
              _settings())
    code = ExitCode.ok if res.status != "refused" else ExitCode.rejected
    emit(res.model_dump(mode="json"), as_json,
         _table(f"{res.request_id}: {res.status} {res.reason}", ["file"], [[f] for f in res.files]),
         code)


@app.command()
def audit(full: bool = typer.Option(False, "--full"),
          sample: Optional[float] = typer.Option(None, "--sample", help="Percent of files."),
          signature: bool = typer.Option(False, "--signature"), as_json: bool = JsonOpt) -> None:
    """Recompute digests and verify signatures; repair from the replica when configured."""
    from cli._progress import with_progress
    from flows.audit_fixity import audit as run

    mode = "sample" if sample is not None else "signature" if signature else "full"
    res = with_progress(not as_json, lambda: run(_settings(), mode=mode, sample_percent=sample or 5.0))
    obj = res.model_dump(include={"checked", "ok", "failures", "repaired", "no_trusted_time"})
    obj["report"] = res.report
    rows = [[f["kind"], f["path"], f["expected"], f["actual"]] for f in res.failures]
    rows += [[u["note"], u["path"], f"{u['aip_id']} {u['version']}", ""] for u in res.no_trusted_time]
    emit(obj, as_json, _table(f"audit {res.run_id}: {res.checked} checked, {res.ok} ok, "
                              f"{res.repaired} repaired", ["kind", "path", "expected", "actual"], rows),
         ExitCode.verification_failed if res.failures else ExitCode.ok)


@app.command()
def verify(aip_id: str, as_json: bool = JsonOpt) -> None:
    """Verify one AIP: inventory, every file's digest, the bag and its signature."""
    from flows.aip_queries import verify_aip

    res = verify_aip(_settings(), aip_id)
    emit(res, as_json, _table(f"{aip_id}: {'valid' if res['valid'] else 'NOT valid'}",
                              ["kind", "path", "expected", "actual"],
                              [[p["kind"], p["path"], p["expected"], p["actual"]]
                               for p in res["problems"]]),
         ExitCode.ok if res["valid"] else ExitCode.verification_failed)


@app.command()
def export(aip_id: str, out_dir: Path, as_json: bool = JsonOpt) -> None:
    """Write the AIP's head version as a self-contained, signed BagIt bag."""
    from flows.aip_queries import export_aip

    path = export_aip(_settings(), aip_id, out_dir.absolute())
    emit({"path": str(path)}, as_json, f"exported to {path}")


@app.command()
def show(aip_id: str, as_json: bool = JsonOpt) -> None:
    """What an archivist inspects: documents, volumes, disclosure and every page's OCR text."""
    from flows.aip_queries import show_aip

    res = show_aip(_settings(), aip_id)
    rows = [[d["source_path"], d["volume"], d["disclosable"], len(d["pages"])]
            for d in res["documents"]]
    warnings = [[f"{p['code']} {p['reason']}", p["path"], f"recorded {p['expected']}", f"stored {p['actual']}"]
                for p in res["head_problems"]]
    title = f"{res['case_number']} v{res['version']} (storage v{res['storage_version']})"
    if res.get("status") == "disposed":
        stone = res["tombstone"]
        title = f"{res['case_number']} v{res['version']}: 已销毁 disposed of {stone['disposed_at']} by {stone['disposed_by']}"
    emit(res, as_json, _table(title, ["document", "volume", "disclosable", "pages"], rows + warnings),
         ExitCode.verification_failed if warnings else ExitCode.ok)


@app.command()
def reindex(as_json: bool = JsonOpt) -> None:
    """Rebuild the search index from the storage root alone."""
    from cli._progress import with_progress
    from flows.reindex import reindex as run

    res = with_progress(not as_json, lambda: run(_settings()))
    emit(res.model_dump(), as_json, f"reindexed {res.objects} AIPs, {res.pages} pages")


@app.command()
def info(as_json: bool = JsonOpt) -> None:
    """Where this archive keeps its data, whether its storage roots are the catalog's (a root
    the catalog does not describe is refused with E450-E452), and whether its virus database is usable."""
    from importlib.metadata import version

    from archive.storage.identity import check_storage_root
    from ingest.virus import virus_status

    s = _settings()
    obj = {"home": str(s.home), "catalog_url": s.catalog_url, "storage_root": str(s.storage_root),
           "storage_root_id": check_storage_root(s.catalog_url, s.storage_root, "primary"),
           "replica_root": str(s.replica_root) if s.replica_root else None,
           "replica_root_id": (check_storage_root(s.catalog_url, s.replica_root, "replica")
                               if s.replica_root else None),
           "index_backend": s.index_backend, "version": version("juanzong"),
           "root_certificate": str(s.root_cert) if s.root_cert and s.root_cert.is_file() else None,
           "tsa_url": s.tsa_url or None, "signature_algorithm": s.signature_algorithm,
           "virus": virus_status(s)}
    emit(obj, as_json, _table("juanzong", ["setting", "value"], [[k, v] for k, v in obj.items()]))


@app.command()
def status(as_json: bool = JsonOpt) -> None:
    """Workers, batches by state, review queue, index lag, audit coverage, storage use."""
    from flows.engine_status import status_report

    r = status_report(_settings())
    rows = [["engine", r.engine]] + [[f"worker {w.name}", f"{'online' if w.online else 'offline'}, {w.runs} runs"]
                                     for w in r.workers]
    rows += [[f"batches {k}", v] for k, v in sorted(r.batches.items())]
    rows += [["oldest waiting", f"{r.oldest_waiting.batch} since {r.oldest_waiting.since:%Y-%m-%d %H:%M}"
              if r.oldest_waiting else "-"], ["review queue", f"{r.review_queue} pages"],
             ["index lag", f"{r.index_lag} AIPs"],
             ["audit coverage", f"{r.audit.coverage_percent} % of {r.audit.files} files within "
                                f"{r.audit.cycle_days} days; last findings {len(r.audit.last_findings)}"],
             ["storage", f"{r.storage.objects} AIPs, {r.storage.files} files, {r.storage.bytes} bytes, "
                         f"{r.storage.free_bytes} bytes free"]]
    emit(r.model_dump(mode="json"), as_json, _table("juanzong status", ["what", "state"], rows))


@keys_app.command("init")
def keys_init(as_json: bool = JsonOpt) -> None:
    """Make the development PKI where missing: a root CA (its key kept apart), the AIP-signing
    and dissemination-seal certificates it issues, and its CRL."""
    from archive.pki import ensure_dev_pki
    from flows._runtime import pki_paths

    s = _settings()
    paths = ensure_dev_pki(pki_paths(s), algorithm=s.signature_algorithm)
    obj = {"key": str(paths.signing_key), "certificate": str(paths.signing_cert),
           "seal_certificate": str(paths.seal_cert), "root_certificate": str(paths.root_cert),
           "root_key": str(paths.root_key), "crl": str(paths.crl)}
    emit(obj, as_json, _table("development PKI", ["file", "path"], [[k, v] for k, v in obj.items()]))


@keys_app.command("rotate")
def keys_rotate(as_json: bool = JsonOpt) -> None:
    """Issue a new AIP-signing key and certificate from the root; the old pair is kept, and
    versions it signed keep verifying (they chain to the same root)."""
    from archive.pki import rotate_signing_certificate
    from flows._runtime import fingerprint, pki_paths

    s = _settings()
    cert = rotate_signing_certificate(pki_paths(s), s.signature_algorithm)
    emit({"certificate": str(s.signing_cert), "serial": f"{cert.serial_number:x}", "fingerprint": fingerprint(cert)},
         as_json, f"new signing certificate {cert.serial_number:x}: {s.signing_cert}")


@app.command()
def demo(as_json: bool = JsonOpt) -> None:
    """Archive a generated sample batch, search it and issue a reading copy."""
    from flows.demo import run_demo

    res = run_demo(_settings())
    emit(res, as_json, _table("Juanzong demo", ["what", "where"], [[k, v] for k, v in res.items()]))


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the HTTP API."""
    import signal

    import uvicorn

    from api.app import create_app

    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    uvicorn.run(create_app(_settings()), host=host, port=port)


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    """uvicorn re-raises SIGTERM after its graceful shutdown; exit normally instead of dying,
    so that exit handlers run and Prefect's in-process API server child is stopped with us."""
    raise SystemExit(128 + signum)


from cli.intake_commands import register as register_intake  # noqa: E402

from cli.archive_commands import register as register_archive  # noqa: E402
from cli.catalog_commands import register as register_catalog  # noqa: E402
from cli.reading_commands import register as register_reading  # noqa: E402
from cli.review_commands import register as register_review  # noqa: E402
from cli.retention_commands import register as register_retention  # noqa: E402
from cli.transfer_commands import register as register_transfer  # noqa: E402
from cli.evidence_commands import register as register_evidence  # noqa: E402
from cli.change_commands import register as register_changes  # noqa: E402
from cli.users_commands import register as register_users  # noqa: E402

register_intake(app, _settings)
register_reading(app, _settings)
register_archive(app, _settings)
register_review(app, _settings)
register_retention(app, _settings)
register_transfer(app, _settings)
register_evidence(app, _settings)
register_catalog(app, _settings)
register_changes(app, _settings)
register_users(app, _settings)


def _json_error(exc: JuanzongError) -> None:
    if "--json" in sys.argv:
        sys.stdout.write(json.dumps({"error": {"code": exc.code, "path": exc.path, "message": str(exc)}},
                                    ensure_ascii=False) + "\n")


def _no_space_in(exc: BaseException) -> BaseException | None:
    """The full-disk error behind ``exc`` (itself, or what it was raised from), if any."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if is_no_space(exc):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _full_folder(settings: Settings) -> Path | None:
    """The first of the archive's folders whose disk has (almost) no room left."""
    catalog = settings.catalog_url.removeprefix("sqlite:///")
    folders = [Path(catalog).parent] if catalog != settings.catalog_url else []
    for folder in [*folders, settings.home, settings.storage_root, settings.work_root]:
        existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if existing is not None:
            fs = os.statvfs(existing)
            if fs.f_bavail * fs.f_frsize < 1 << 20:
                return folder
    return None


def _full_disk_error(exc: BaseException) -> JuanzongError | None:
    """E166 when ``exc`` comes from a full disk: an ENOSPC behind it, or any failure while one
    of the archive's disks is full (SQLite may call it "disk I/O error")."""
    full = _no_space_in(exc)
    if full is not None:
        return no_space_error(full, str(State.settings.home))
    folder = _full_folder(State.settings)
    return no_space_error(exc, str(folder)) if folder is not None else None


# Commands that run flows in-process; they share one local Prefect server (the others never
# import Prefect, so they must not pay for starting one).
FLOW_COMMANDS = frozenset({"ingest", "disseminate", "audit", "reindex", "demo", "serve", "watch",
                           "quarantine", "requests", "notifications", "ocr", "archive-case", "catalog"})


def _command_name(argv: list[str]) -> str:
    return next((a for a in argv if not a.startswith("-")), "")


def _shared_prefect(settings: Settings, argv: list[str]) -> None:
    if _command_name(argv) in FLOW_COMMANDS:
        from flows._prefect_server import use_shared_server

        use_shared_server(Path(os.environ["PREFECT_HOME"]), settings.prefect_server_idle_seconds)


def _bind_journals(settings: Settings) -> None:
    """This process's events go to the settings' log, registry rows to its journal."""
    from flows._runtime import bind_journals

    bind_journals(settings)


def prepare_process(argv: list[str]) -> Settings:
    """What a process does before a flow command runs (``cli._runner`` does it once, ahead)."""
    settings = load_settings()
    configure_prefect(settings)
    _bind_journals(settings)
    _shared_prefect(settings, argv)
    return settings


def main() -> None:
    try:
        State.settings = load_settings()
    except SettingsError as exc:
        err.print(f"[red]juanzong:[/] {exc}")
        sys.exit(ExitCode.settings)
    try:
        configure_prefect(State.settings)
        _bind_journals(State.settings)
        _shared_prefect(State.settings, sys.argv[1:])
        sys.exit(app(standalone_mode=False) or 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except JuanzongError as exc:
        err.print(f"[red]juanzong:[/] {exc} [{exc.code}]")
        _json_error(exc)
        sys.exit(exc.exit_code)
    except SettingsError as exc:
        err.print(f"[red]juanzong:[/] {exc}")
        sys.exit(ExitCode.settings)
    except (typer.BadParameter, typer.Abort) as exc:
        err.print(f"[red]juanzong:[/] {exc}")
        sys.exit(ExitCode.usage)
    except Exception as exc:  # the one place internal errors become exit code 1
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(ExitCode.usage)
        coded = _full_disk_error(exc)  # the --json contract holds on a full disk too: E166
        if coded is None:
            err.print_exception()
            coded = JuanzongError("E999", "-", reason=f"{type(exc).__name__}: {exc}"[:500])
        err.print(f"[red]juanzong:[/] {coded} [{coded.code}]")
        _json_error(coded)
        sys.exit(ExitCode.internal_error)
