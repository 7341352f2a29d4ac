"""Sign in, sign out, the language switch and the dashboard (首页)."""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from api.console.dashboard import dashboard_figures
from api.console.operations import Operations
from api.console.i18n import LANGS, error_text, language_of
from api.console.web import (
    LANG_COOKIE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_HOURS,
    Viewer,
    close_session,
    form_page,
    open_session,
    page,
    redirect,
    render,
)
from archive.accounts import authenticate
from config import Settings
from schemas.errors import InputRejected


def _safe_next(target: str | None) -> str:
    """Only a path inside the console, never another site."""
    return target if target and target.startswith("/console/") and "//" not in target else "/console/"


def _login_form(request: Request, next_: str, *, code: str | None = None, status: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    lang = language_of(request.cookies.get(LANG_COOKIE))
    response = render(request, "login.html", viewer=None, title_key="login.title", status_code=status,
                      csrf=token, next=next_,
                      error=error_text(code, lang, path=request.url.path) if code else None, code=code)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/console/login")
    return response


def add_routes(router: APIRouter, settings: Settings, ops: Operations) -> None:
    cookie = {"httponly": True, "samesite": "strict", "path": "/console"}

    @router.get("/login")
    def login_form(request: Request, next: str = "/console/") -> Response:
        return _login_form(request, _safe_next(next))

    @router.post("/login")
    def login(request: Request, username: str = Form(""), password: str = Form(""),
              csrf: str = Form(""), next: str = Form("/console/")) -> Response:
        expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not csrf or not expected or not hmac.compare_digest(csrf, expected):
            return _login_form(request, _safe_next(next), code="E805", status=403)
        try:
            account = authenticate(settings.catalog_url, username.strip(), password)
        except InputRejected as exc:
            return _login_form(request, _safe_next(next), code=exc.code, status=401)
        response = redirect(_safe_next(next))
        response.set_cookie(SESSION_COOKIE, open_session(settings.catalog_url, account.username),
                            max_age=SESSION_HOURS * 3600, **cookie)
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console/login")
        return response

    @router.post("/logout")
    def logout(request: Request, viewer: Viewer = Depends(form_page(settings, "dashboard.view"))) -> Response:
        close_session(settings.catalog_url, request.cookies.get(SESSION_COOKIE))
        response = redirect("/console/login")
        response.delete_cookie(SESSION_COOKIE, path="/console")
        return response

    @router.get("/lang")
    def switch_language(to: str, next: str = "/console/") -> Response:
        response = redirect(_safe_next(next))
        if to in LANGS:
            response.set_cookie(LANG_COOKIE, to, max_age=365 * 86400, **cookie)
        return response

    @router.get("/")
    def dashboard(request: Request, viewer: Viewer = Depends(page(settings, "dashboard.view"))) -> Response:
        return render(request, "dashboard.html", viewer=viewer, title_key="dashboard.title",
                      figures=dashboard_figures(settings))
