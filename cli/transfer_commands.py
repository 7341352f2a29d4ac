"""CLI commands of transfer to the state archive: ``transfer export`` and ``transfer verify``.

``register(app, get_settings)`` adds them to the ``juanzong`` Typer app; errors are raised as
``JuanzongError`` and become exit codes in ``cli.main.main``. With ``--json`` each command prints
one JSON object.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from cli._output import JsonOpt
from cli._output import emit as _emit
from config import Settings
from schemas.errors import ExitCode


def trusted_for_package(settings: Settings, trust: list[Path]) -> list | None:
    """The certificates a received package must chain to: the catalog's and ``--trust`` files;
    None (the package's own embedded chain) when there are none."""
    from cryptography import x509

    from flows._runtime import trusted_certificates

    certs = trusted_certificates(settings) + [x509.load_pem_x509_certificate(p.read_bytes()) for p in trust]
    return certs or None


TrustOpt = typer.Option([], "--trust", help="PEM certificate of the sending archive (repeatable).")


def register(app: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    sub = typer.Typer(help="Transfer packages for the state archive (移交, DA/T 93 / DA/T 48).")
    app.add_typer(sub, name="transfer")

    @sub.command("export")
    def export(out: Path, case: list[str] = typer.Option(..., "--case", help="案号 (repeatable)."),
               receiver: str = typer.Option("国家综合档案馆", "--to", help="The receiving archive."),
               by: str = typer.Option("juanzong", "--by", help="Who hands over (principal id)."),
               as_json: bool = JsonOpt) -> None:
        """Write archived cases as signed EEPs in a new transfer package folder OUT."""
        from flows.transfer_export import transfer_export

        res = transfer_export(get_settings(), case, out.absolute(), receiver=receiver, by=by)
        _emit(res.model_dump(), as_json, f"transfer package {res.path}: {len(res.cases)} cases")

    @sub.command("verify")
    def verify(path: Path, trust: list[Path] = TrustOpt, as_json: bool = JsonOpt) -> None:
        """Check a received package: structure, counts, digests, signatures; exit 4 when not valid."""
        from archive.transfer import verify_transfer_package

        res = verify_transfer_package(path, trusted_for_package(get_settings(), trust))
        obj = {"valid": res.valid, "package": res.package, "problems": [p.public() for p in res.problems]}
        text = "valid" if res.valid else "\n".join(f"{p.code} {p.message}" for p in res.problems)
        _emit(obj, as_json, text, ExitCode.ok if res.valid else ExitCode.verification_failed)
