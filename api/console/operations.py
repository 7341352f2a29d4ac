"""Long operations started from the console — audit, reindex, OCR retry, a released batch's
ingest — run as flow runs in the background; their page shows state, elapsed time, the stage
and how many items of how many (``flows.progress`` reports), and the outcome.

Each start and end is a preservation event naming the person, so the log tells who started
what even after the process restarts (the list itself lives in this process).
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from api.console.i18n import messages, translate
from api.console.web import Viewer, form_page, page, redirect, render
from archive.catalog import session
from archive.catalog.record import record_event
from config import Settings
from flows import progress as flow_progress
from schemas.errors import InputRejected, NotFound

Kind = Literal["audit-full", "audit-sample", "reindex", "ocr-retry", "ingest"]
ACTIONS: dict[str, str] = {"audit-full": "audit.run", "audit-sample": "audit.run",
                           "reindex": "operation.run", "ocr-retry": "operation.run",
                           "ingest": "quarantine.decide"}


_running: ContextVar[str | None] = ContextVar("console_operation", default=None)


class Operation(BaseModel):
    id: str
    kind: str
    target: str = ""
    started_by: str
    started_at: float
    finished_at: float | None = None
    state: Literal["running", "completed", "failed"] = "running"
    summary: str = ""
    stage: str = ""  # the flow's latest progress report: stage, done of total unit
    done: int = 0
    total: int = 0
    unit: str = ""

    @property
    def elapsed(self) -> float:
        return (self.finished_at or time.time()) - self.started_at


class Operations:
    """The operations of this console process, newest first."""

    def __init__(self, settings: Settings, workers: int = 2) -> None:
        self.settings = settings
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="console-op")
        self._ops: dict[str, Operation] = {}
        self._lock = threading.Lock()
        flow_progress.listen(self._progress)

    def start(self, kind: str, viewer: Viewer, job: Callable[[], str], target: str = "") -> Operation:
        op = Operation(id=uuid.uuid4().hex[:12], kind=kind, target=target, started_by=viewer.principal_id,
                       started_at=time.time())
        self._set(op)
        self._event(op, "started")
        self._pool.submit(self._run, op, job)
        return op

    def _run(self, op: Operation, job: Callable[[], str]) -> None:
        token = _running.set(op.id)
        try:
            update = {"state": "completed", "summary": job()}
        except Exception as exc:  # the operation's page shows why it failed
            update = {"state": "failed", "summary": f"{type(exc).__name__}: {exc}"[:500]}
        finally:
            _running.reset(token)
        done = self.get(op.id).model_copy(update=update | {"finished_at": time.time()})
        self._set(done)
        self._event(done, done.state)

    def _progress(self, report: flow_progress.Progress) -> None:
        """A flow's report, given to the operation it runs in (Prefect carries the context into the
        threads it starts; from any other thread, to the one operation running, if only one is)."""
        with self._lock:
            op_id = _running.get()
            running = [o.id for o in self._ops.values() if o.state == "running"]
            if op_id is None and len(running) == 1:
                op_id = running[0]
            if op_id in self._ops:
                self._ops[op_id] = self._ops[op_id].model_copy(update={
                    "stage": report.stage, "done": report.done, "total": report.total, "unit": report.unit})

    def _set(self, op: Operation) -> None:
        with self._lock:
            self._ops[op.id] = op

    def _event(self, op: Operation, what: str) -> None:
        with session(self.settings.catalog_url) as s:
            record_event(s, "console operation", agent=op.started_by,
                         outcome="failure" if what == "failed" else "success",
                         detail=f"{op.kind} {op.target} {what} ({op.id}) {op.summary}".strip())
            s.commit()

    def get(self, op_id: str) -> Operation:
        with self._lock:
            op = self._ops.get(op_id)
        if op is None:
            raise NotFound("E811", op_id)
        return op

    def all(self) -> list[Operation]:
        with self._lock:
            return sorted(self._ops.values(), key=lambda o: o.started_at, reverse=True)


def progress_text(op: Operation, lang: str) -> str:
    """``审计：3 / 7 个 AIP``: the latest report in the viewer's language ("-" before the first)."""
    if not op.stage:
        return "-"

    def word(kind: str, value: str) -> str:
        key = f"progress.{kind}.{value}"
        return translate(key, lang) if key in messages() else value

    return translate("operations.progress_value", lang, stage=word("stage", op.stage), done=op.done,
                     total=op.total, unit=word("unit", op.unit))


def jobs(settings: Settings) -> dict[str, Callable[[str], str]]:
    """What each kind of operation runs (``target`` narrows it where the kind takes one)."""

    def audit(mode: str) -> Callable[[str], str]:
        def run(_target: str) -> str:
            from flows.audit_fixity import audit as run_audit

            out = run_audit(settings, mode=mode, sample_percent=5.0)
            return f"{out.checked} checked, {len(out.failures)} failures, {out.repaired} repaired"
        return run

    def reindex(_target: str) -> str:
        from flows.reindex import reindex as run_reindex

        out = run_reindex(settings)
        return f"{out.objects} AIPs, {out.pages} pages"

    def ocr_retry(target: str) -> str:
        from flows.retry_ocr import retry_ocr

        out = retry_ocr(settings, case_number=target or None)
        return f"{len(out.retried)} retried, {len(out.failed_again)} failed again"

    return {"audit-full": audit("full"), "audit-sample": audit("sample"), "reindex": reindex,
            "ocr-retry": ocr_retry}


def add_routes(router: APIRouter, settings: Settings, ops: Operations) -> None:
    runnable = jobs(settings)

    @router.post("/operations")
    def start(request: Request, kind: str = Form(...), target: str = Form(""),
              viewer: Viewer = Depends(form_page(settings, "dashboard.view"))) -> Response:
        if kind not in runnable:
            raise InputRejected("E155", "kind", reason=f"unknown operation {kind!r}")
        if not viewer.may(ACTIONS[kind]):
            raise InputRejected("E807", request.url.path, expected=ACTIONS[kind], found=viewer.username)
        op = ops.start(kind, viewer, lambda: runnable[kind](target), target=target)
        return redirect(f"/console/operations/{op.id}")

    @router.get("/operations")
    def listing(request: Request, viewer: Viewer = Depends(page(settings, "audit.read"))) -> Response:
        return render(request, "operations.html", viewer=viewer, title_key="operations.title",
                      operations=ops.all())

    @router.get("/operations/{op_id}")
    def one(request: Request, op_id: str, viewer: Viewer = Depends(page(settings, "audit.read"))) -> Response:
        op = ops.get(op_id)
        return render(request, "operation.html", viewer=viewer, title_key="operations.one_title",
                      op=op, progress=progress_text(op, viewer.lang))

    @router.get("/operations/{op_id}/state")
    def state(op_id: str, viewer: Viewer = Depends(page(settings, "audit.read"))) -> JSONResponse:
        op = ops.get(op_id)
        return JSONResponse(op.model_dump() | {"elapsed": round(op.elapsed, 1),
                                               "progress": progress_text(op, viewer.lang)})
