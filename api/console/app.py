"""The console router: each page module adds its routes; static files are served from here."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from api.console import audits, cases, changes, home, operations, quarantine, reading, review, system
from api.console.operations import Operations
from api.console.web import ConsoleRoute
from config import Settings

PAGE_MODULES = (home, quarantine, review, reading, changes, cases, audits, operations, system)


def console_router(settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)
    ops = Operations(settings)
    for module in PAGE_MODULES:
        module.add_routes(router, settings, ops)
    return router


def mount_console(app: FastAPI, settings: Settings) -> None:
    app.mount("/console/static", StaticFiles(directory=Path(__file__).with_name("static")),
              name="console-static")
    app.include_router(console_router(settings))
