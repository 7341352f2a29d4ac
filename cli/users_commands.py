"""``juanzong users``: console accounts, made by the operator at the server (the first officers
are made here; afterwards the system administrator makes accounts in the console and the
security administrator assigns their roles)."""

from __future__ import annotations

import getpass
from collections.abc import Callable

import typer

from archive import accounts
from cli._output import JsonOpt
from cli._output import emit as _emit
from config import Settings


def register(app: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    sub = typer.Typer(help="Console accounts (三员 and archive staff).")
    app.add_typer(sub, name="users")

    @sub.command("add")
    def add(name: str, role: list[str] = typer.Option(..., "--role",
                                                      help="sysadmin | secadmin | secauditor | archivist | auditor"),
            display_name: str = typer.Option("", "--display-name"), as_json: bool = JsonOpt) -> None:
        """Create an account; its password is printed once."""
        account, password = accounts.add_user(get_settings().catalog_url, name, role,
                                              by=f"cli:{getpass.getuser()}", display_name=display_name)
        _emit({"username": account.username, "role": ",".join(account.roles), "roles": list(account.roles),
               "password": password}, as_json,
              f"{account.username} ({', '.join(account.roles)}): password {password} (shown once)")

    @sub.command("list")
    def list_(as_json: bool = JsonOpt) -> None:
        """Every account with its roles and state."""
        users = accounts.list_users(get_settings().catalog_url)
        _emit({"users": [u.model_dump(mode="json") for u in users]}, as_json,
              "\n".join(f"{u.username}\t{','.join(u.roles)}\t{'locked' if u.locked else ''}" for u in users))

    @sub.command("unlock")
    def unlock(name: str, as_json: bool = JsonOpt) -> None:
        """Unlock an account locked by wrong passwords."""
        account = accounts.set_state(get_settings().catalog_url, name, by=f"cli:{getpass.getuser()}", unlock=True)
        _emit(account.model_dump(mode="json"), as_json, f"{name} unlocked")
