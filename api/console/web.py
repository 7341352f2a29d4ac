"""What every console page shares: the signed-in viewer, CSRF checks, rendering, error pages.

A session is a random token in an HttpOnly, SameSite=Strict cookie; the catalog keeps only its
SHA-256 and the session's CSRF token, which every form carries as ``csrf``. The sign-in form,
which has no session yet, uses a double-submit token (a cookie and a hidden field that must
match). Every refusal becomes a page in the viewer's language with the stable error code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ConfigDict

from api.console.i18n import error_text, language_of, translate
from archive.accounts import OFFICER_ROLES
from archive.catalog import session
from archive.catalog.models import ConsoleSession, ConsoleUser, utcnow
from archive.permissions import MATRIX, is_allowed
from config import Settings
from schemas.errors import InputRejected, JuanzongError, NotFound

SESSION_COOKIE = "jz_console"
LOGIN_CSRF_COOKIE = "jz_login_csrf"
LANG_COOKIE = "jz_lang"
SESSION_HOURS = 8
_TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).with_name("templates")),
                         autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)


def _pretty(value: Any) -> str:
    """A value as a person reads it: text as it is, anything else as indented JSON (CJK kept)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, indent=1, default=str)


_TEMPLATES.filters["pretty"] = _pretty
STATUS = {"E801": 401, "E802": 403, "E805": 403, "E807": 403, "E509": 403, "E152": 403, "E810": 403, "E518": 409}


class SignInRequired(Exception):
    """No session: the page answers with a redirect to the sign-in form."""


class Viewer(BaseModel):
    model_config = ConfigDict(frozen=True)

    username: str
    display_name: str
    roles: tuple[str, ...]
    csrf: str
    lang: str

    @property
    def principal_id(self) -> str:
        return f"user:{self.username}"

    @property
    def is_officer(self) -> bool:
        return bool(OFFICER_ROLES & set(self.roles))

    def may(self, action: str) -> bool:
        return is_allowed(self.roles, action)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(catalog_url: str, username: str) -> str:
    token = secrets.token_urlsafe(32)
    with session(catalog_url) as s:
        s.add(ConsoleSession(token_hash=_token_hash(token), username=username,
                             csrf=secrets.token_urlsafe(24),
                             expires_at=utcnow() + timedelta(hours=SESSION_HOURS)))
        s.commit()
    return token


def close_session(catalog_url: str, token: str | None) -> None:
    if not token:
        return
    with session(catalog_url) as s:
        row = s.get(ConsoleSession, _token_hash(token))
        if row is not None:
            s.delete(row)
            s.commit()


def viewer_of(catalog_url: str, token: str | None, lang: str) -> Viewer | None:
    """The signed-in person, or None for no, an expired or a disabled account's session."""
    if not token:
        return None
    with session(catalog_url) as s:
        row = s.get(ConsoleSession, _token_hash(token))
        if row is None:
            return None
        user = s.get(ConsoleUser, row.username)
        if row.expires_at <= utcnow() or user is None or user.disabled or user.locked:
            s.delete(row)
            s.commit()
            return None
        return Viewer(username=user.username, display_name=user.display_name,
                      roles=tuple(user.roles or ()), csrf=row.csrf, lang=lang)


def page(settings: Settings, action: str) -> Callable[..., Viewer]:
    """The dependency of a page performing ``action``: the viewer, or sign-in, or E807."""
    assert action in MATRIX, action

    def dependency(request: Request) -> Viewer:
        lang = language_of(request.cookies.get(LANG_COOKIE))
        viewer = viewer_of(settings.catalog_url, request.cookies.get(SESSION_COOKIE), lang)
        if viewer is None:
            raise SignInRequired()
        if not viewer.may(action):
            raise InputRejected("E807", request.url.path, expected=action, found=viewer.username)
        return viewer

    return dependency


def form_page(settings: Settings, action: str) -> Callable[..., Viewer]:
    """A form post performing ``action``: as ``page``, and its CSRF token must match the session's."""
    viewer_dependency = page(settings, action)

    def dependency(request: Request, viewer: Viewer = Depends(viewer_dependency),
                   csrf: str = Form("")) -> Viewer:
        if not csrf or not hmac.compare_digest(csrf, viewer.csrf):
            raise InputRejected("E805", request.url.path)
        return viewer

    return dependency


def render(request: Request, template: str, *, viewer: Viewer | None, title_key: str,
           status_code: int = 200, lang: str | None = None, **context: Any) -> HTMLResponse:
    lang = viewer.lang if viewer else (lang or language_of(request.cookies.get(LANG_COOKIE)))

    def _(key: str, **params: object) -> str:
        return translate(key, lang, **params)

    html = _TEMPLATES.get_template(template).render(
        _=_, lang=lang, viewer=viewer, title=_(title_key), path=request.url.path,
        error_text=lambda code, **p: error_text(code, lang, **p), **context)
    return HTMLResponse(html, status_code=status_code)


def redirect(url: str) -> RedirectResponse:
    """After a successful post: see the result (303, so a reload does not post again)."""
    return RedirectResponse(url, status_code=303)


class ConsoleRoute(APIRoute):
    """Turns refusals into pages: no session -> the sign-in form, a code -> an error page."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def wrapped(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                return RedirectResponse(f"/console/login?next={quote(request.url.path)}", status_code=303)
            except JuanzongError as exc:
                status = STATUS.get(exc.code, 404 if isinstance(exc, NotFound) else 422)
                return render(request, "error.html", viewer=None, title_key="error.title",
                              status_code=status, code=exc.code,
                              message=error_text(exc.code, language_of(request.cookies.get(LANG_COOKIE)),
                                                 path=exc.path, **exc.params))

        return wrapped
