"""The HTTP API (FastAPI; OpenAPI at /docs). This first cut serves health and info."""

from __future__ import annotations

from importlib.metadata import version

from fastapi import FastAPI

from config import Settings
from api.operations import operations_router
from api.changes import change_router
from api.console.app import mount_console
from api.reading import reading_router
from api.search import search_router
from api.stations import station_router
from flows._runtime import bind_journals
from flows.remote_runs import is_server_mode
from flows.submission import flow_submit
from ingest.virus import virus_status

SERVER_WAITERS = 16  # batches submitted to the work pool and awaited at once; the pool's limits decide the pace


def create_app(settings: Settings) -> FastAPI:
    bind_journals(settings)
    app = FastAPI(title="Juanzong 卷宗", version=version("juanzong"))

    @app.get("/health")
    def health() -> dict:
        from dissemination.search.registry import open_index

        index = open_index(settings).health()
        virus = virus_status(settings)
        status = "ok" if index.ok and virus["ok"] else "degraded"
        return {"status": status, "index": {"ok": index.ok, "detail": index.detail}, "virus": virus}

    @app.get("/info")
    def info() -> dict:
        return {"catalog": settings.catalog_url.split("://")[0], "index_backend": settings.index_backend,
                "version": version("juanzong")}

    app.include_router(station_router(settings, flow_submit(settings),
                                      max_upload_bytes=settings.max_upload_bytes,
                                      max_zip_ratio=settings.max_zip_ratio,
                                      workers=SERVER_WAITERS if is_server_mode() else 1))
    app.include_router(reading_router(settings))
    app.include_router(search_router(settings))
    app.include_router(operations_router(settings))
    app.include_router(change_router(settings))
    mount_console(app, settings)
    return app
