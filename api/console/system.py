"""系统: accounts and roles, each officer for their own part — the system administrator makes,
disables, unlocks accounts and resets passwords; the security administrator assigns roles; the
security auditor reads. No one acts on their own account. Settings, read-only, without secrets."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import SecretStr

from api.console.operations import Operations
from api.console.web import Viewer, form_page, page, redirect, render
from archive import accounts
from config import Settings


def visible_settings(settings: Settings) -> list[tuple[str, str]]:
    """Every setting with secrets shown as set / not set."""
    rows = []
    for name, value in settings.model_dump().items():
        if isinstance(getattr(settings, name), SecretStr):
            value = "••••" if value else ""
        rows.append((name, "" if value is None else str(value)))
    return rows


def add_routes(router: APIRouter, settings: Settings, ops: Operations) -> None:
    url = settings.catalog_url

    def users_page(request: Request, viewer: Viewer, *, new_password: tuple[str, str] | None = None) -> Response:
        return render(request, "users.html", viewer=viewer, title_key="users.title",
                      users=accounts.list_users(url), roles=accounts.ROLES, new_password=new_password)

    @router.get("/system/users")
    def users(request: Request, viewer: Viewer = Depends(page(settings, "accounts.read"))) -> Response:
        return users_page(request, viewer)

    @router.post("/system/users")
    def add(request: Request, username: str = Form(...), display_name: str = Form(""),
            viewer: Viewer = Depends(form_page(settings, "accounts.manage"))) -> Response:
        account, password = accounts.add_user(url, username.strip(), [], by=viewer.username,
                                              display_name=display_name.strip())
        return users_page(request, viewer, new_password=(account.username, password))

    @router.post("/system/users/{username}/state")
    def state(username: str, change: str = Form(...),
              viewer: Viewer = Depends(form_page(settings, "accounts.manage"))) -> Response:
        accounts.set_state(url, username, by=viewer.username, disabled={"disable": True, "enable": False}.get(change),
                           unlock=change == "unlock")
        return redirect("/console/system/users")

    @router.post("/system/users/{username}/password")
    def reset(request: Request, username: str,
              viewer: Viewer = Depends(form_page(settings, "accounts.manage"))) -> Response:
        return users_page(request, viewer, new_password=(username, accounts.reset_password(url, username,
                                                                                          by=viewer.username)))

    @router.post("/system/users/{username}/roles")
    async def roles(request: Request, username: str,
                    viewer: Viewer = Depends(form_page(settings, "roles.assign"))) -> Response:
        chosen = [r for r in (await request.form()).getlist("roles") if isinstance(r, str)]
        accounts.assign_roles(url, username, chosen, by=viewer.username)
        return redirect("/console/system/users")

    @router.get("/system/settings")
    def settings_page(request: Request, viewer: Viewer = Depends(page(settings, "settings.read"))) -> Response:
        return render(request, "settings.html", viewer=viewer, title_key="settings.title",
                      rows=visible_settings(settings))
