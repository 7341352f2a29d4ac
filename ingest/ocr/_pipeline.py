"""The whole OCR job: plan documents -> OCR pages of all documents across worker processes
-> assemble each document's PDF/A as soon as its last page is read -> results in input order.

Three levels, as in OCRmyPDF ``_pipelines/ocr.py``: ``_page.ocr_page`` (one item),
``_run_concurrently`` (fan-out), ``ocr_documents`` (whole job).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from datetime import datetime, timezone
from pathlib import Path

import pikepdf
from pydantic import BaseModel, ConfigDict

from ingest._exec import pdftotext
from ingest.ocr import _heap, _images
from ingest.ocr._lifetime import exit_with
from ingest.ocr._assemble import assemble_pdfa, make_pdfa_without_ocr
from ingest.ocr._page import PageOutcome, PageTask, ocr_page
from ingest.ocr.registry import get_engine
from ingest.ocr.options import OcrOptions
from ingest.records import OcrResult, PageText

log = logging.getLogger("juanzong.ocr")

IN_FLIGHT_PER_JOB = 2  # queued page tasks per worker: enough to keep cores busy, memory flat
MIN_TEXT_CHARS = 10  # a page with this many extracted characters carries real text


class DocumentPlan(BaseModel):
    """One submitted file and where its work goes; picklable for the assembler."""

    model_config = ConfigDict(frozen=True)

    index: int
    source_path: str
    original: Path
    out_dir: Path
    page_count: int


class _Done(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    pdfa: Path | None
    error: str | None


def ocr_documents(files: Sequence[tuple[str, Path]], work_dir: Path, options: OcrOptions,
                  on_page: Callable[[int, int], None] | None = None) -> list[OcrResult]:
    """OCR every file into ``work_dir``; one result per file, in order; never raises per file.
    ``on_page(done, total)`` hears each page read (a progress display; called in this thread)."""
    started = _now()
    engine = get_engine(options.engine, options)
    meta = {"engine": engine.name, "engine_version": engine.version(), "languages": options.languages,
            "options": options.as_event_options()}
    results: dict[int, OcrResult] = {}
    plans: list[DocumentPlan] = []
    for index, (source_path, original) in enumerate(files):
        plan_or_result = _triage(index, source_path, Path(original), work_dir, started, meta)
        if isinstance(plan_or_result, OcrResult):
            results[index] = plan_or_result
        else:
            plans.append(plan_or_result)
    if plans:
        finished = _run_concurrently(plans, options, on_page or (lambda done, total: None))
        for plan in plans:
            outcomes, done, finished_at = finished[plan.index]
            results[plan.index] = _result(plan, outcomes, done, started, finished_at, meta)
    return [results[i] for i in range(len(files))]


def _triage(index: int, source_path: str, original: Path, work_dir: Path, started: datetime,
            meta: dict) -> DocumentPlan | OcrResult:
    """Cheap checks first: unreadable -> failed; born-digital -> skipped; else a plan."""
    out_dir = work_dir / f"doc_{index:04d}"
    try:
        page_count = _images.count_pages(original)
        if page_count < 1:
            raise ValueError("no pages")
        if not _images.is_tiff(original) and has_text_layer(original):
            out_dir.mkdir(parents=True, exist_ok=True)
            return _skipped(source_path, original, out_dir, started, meta)
    except Exception as exc:  # noqa: BLE001  a damaged file fails alone, never the batch
        return _failed(source_path, original, f"{original}: cannot read: {exc}", started, meta)
    out_dir.mkdir(parents=True, exist_ok=True)
    return DocumentPlan(index=index, source_path=source_path, original=original, out_dir=out_dir,
                        page_count=page_count)


def has_text_layer(pdf_path: Path) -> bool:
    """Whether the PDF uses fonts on most pages and text can be extracted from them."""
    with pikepdf.open(pdf_path) as pdf:
        with_fonts = sum(1 for page in pdf.pages if "/Font" in page.obj.get("/Resources", {}))
        if with_fonts * 2 < len(pdf.pages):
            return False
    texts = pdftotext.page_texts(pdf_path, timeout=60)
    return sum(len("".join(t.split())) >= MIN_TEXT_CHARS for t in texts) * 2 >= len(texts)


def _start_worker(parent_pid: int) -> None:
    """Pool initializer: end with the flow process; keep the worker's heap from creeping."""
    exit_with(parent_pid)
    _heap.fix_mmap_threshold()


def _run_concurrently(plans: Sequence[DocumentPlan], options: OcrOptions,
                      on_page: Callable[[int, int], None]) -> dict[int, tuple]:
    """Pages of all documents share ``options.jobs`` worker processes; each document is
    assembled in a worker as soon as its last page is back."""
    by_index = {p.index: p for p in plans}
    pending = deque(PageTask(doc=p.index, page=n, source=p.original, out_dir=p.out_dir, options=options)
                    for p in plans for n in range(1, p.page_count + 1))
    outcomes: dict[int, list[PageOutcome]] = {p.index: [] for p in plans}
    finished: dict[int, tuple] = {}
    total, read = len(pending), 0
    on_page(read, total)
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=options.jobs, mp_context=context,
                             initializer=_start_worker, initargs=(os.getpid(),)) as pool:
        running: dict[Future, tuple[str, PageTask | DocumentPlan]] = {}
        while pending or running:
            while pending and sum(k == "page" for k, _ in running.values()) < options.jobs * IN_FLIGHT_PER_JOB:
                task = pending.popleft()
                running[_submit(pool, ocr_page, task)] = ("page", task)
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                kind, item = running.pop(future)
                if kind == "page":
                    page = _page_result(future, item)
                    outcomes[page.doc].append(page)
                    read += 1
                    on_page(read, total)
                    plan = by_index[page.doc]
                    if len(outcomes[plan.index]) == plan.page_count:
                        ordered = sorted(outcomes[plan.index], key=lambda o: o.page)
                        outcomes[plan.index] = ordered
                        running[_submit(pool, assemble_document, plan, ordered)] = ("doc", plan)
                else:
                    finished[item.index] = (outcomes[item.index], _doc_result(future, item), _now())
    return finished


def _submit(pool: ProcessPoolExecutor, fn, *args) -> Future:
    """Submit, or a failed future when the pool broke, so every item still gets a result."""
    try:
        return pool.submit(fn, *args)
    except BrokenProcessPool as exc:
        future: Future = Future()
        future.set_exception(exc)
        return future


def _page_result(future: Future, task: PageTask) -> PageOutcome:
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001  e.g. a worker killed by the OS
        return PageOutcome(doc=task.doc, page=task.page, flags=("ocr_failed",),
                           error=f"page {task.page}: worker failed: {exc!r}")


def _doc_result(future: Future, plan: DocumentPlan) -> _Done:
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001
        return _Done(pdfa=None, error=f"{plan.original}: assembling the PDF/A failed: {exc!r}")


def assemble_document(plan: DocumentPlan, pages: Sequence[PageOutcome]) -> _Done:
    """Runs in a worker. A document with a failed page gets no PDF/A: it is retried whole."""
    errors = [p.error for p in pages if p.error]
    if errors:
        return _Done(pdfa=None, error=f"{plan.original}: " + "; ".join(errors))
    try:
        return _Done(pdfa=assemble_pdfa(plan.original, pages, plan.out_dir, plan.source_path), error=None)
    except Exception as exc:  # noqa: BLE001
        return _Done(pdfa=None, error=f"{plan.original}: PDF/A not made: {type(exc).__name__}: {exc}")
    finally:
        _heap.trim(collect=True)


def _result(plan: DocumentPlan, outcomes: list[PageOutcome], done: _Done, started: datetime,
            finished_at: datetime, meta: dict) -> OcrResult:
    pages = tuple(PageText(page=o.page, text=o.text, confidence=o.confidence, rotation=o.rotation,
                           flags=o.flags, unsure=o.unsure) for o in outcomes)
    return OcrResult(source_path=plan.source_path, original=plan.original, pdfa=done.pdfa, pages=pages,
                     status="failed" if done.error else "done", error=done.error,
                     started_at=started, finished_at=finished_at, **meta)


def _skipped(source_path: str, original: Path, out_dir: Path, started: datetime, meta: dict) -> OcrResult:
    texts = pdftotext.page_texts(original, timeout=60)
    try:
        pdfa: Path | None = make_pdfa_without_ocr(original, out_dir / "document.pdfa.pdf", source_path)
    except Exception as exc:  # noqa: BLE001  PDF/A is a bonus here; the original is the master
        log.info("%s: no PDF/A without OCR: %s", original, exc)
        pdfa = None
    pages = tuple(PageText(page=n, text=t) for n, t in enumerate(texts, 1))
    return OcrResult(source_path=source_path, original=original, pdfa=pdfa, pages=pages,
                     status="skipped_has_text", started_at=started, finished_at=_now(), **meta)


def _failed(source_path: str, original: Path, error: str, started: datetime, meta: dict) -> OcrResult:
    return OcrResult(source_path=source_path, original=original, pdfa=None, pages=(), status="failed",
                     error=error, started_at=started, finished_at=_now(), **meta)


def _now() -> datetime:
    return datetime.now(timezone.utc)
