"""Operator endpoints: ``GET /status`` (the ``juanzong status --json`` object) and
``GET /metrics`` (the same figures in Prometheus' text format, for scraping)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from config import Settings
from flows.engine_status import StatusReport, status_report


def metrics_text(report: StatusReport) -> bytes:
    """The status as Prometheus gauges, in a registry of their own (one per scrape)."""
    registry = CollectorRegistry()

    def gauge(name: str, doc: str, value: float, **labels: str) -> None:
        metric = gauges.get(name) or Gauge(name, doc, list(labels), registry=registry)
        gauges[name] = metric
        (metric.labels(**labels) if labels else metric).set(value)

    gauges: dict[str, Gauge] = {}
    for state, n in report.batches.items():
        gauge("juanzong_batches", "Batches by state", n, state=state)
    for w in report.workers:
        gauge("juanzong_worker_online", "1 when the worker polls the pool", int(w.online), worker=w.name)
        gauge("juanzong_worker_finished_runs", "Flow runs the worker finished", w.runs, worker=w.name)
    waiting = report.oldest_waiting
    gauge("juanzong_oldest_waiting_timestamp_seconds", "Admission time of the oldest queued batch",
          waiting.since.timestamp() if waiting else 0)
    gauge("juanzong_review_queue_pages", "Flagged pages awaiting review", report.review_queue)
    gauge("juanzong_index_lag_aips", "AIPs waiting to be indexed", report.index_lag)
    gauge("juanzong_audit_coverage_ratio", "Share of content files verified within the cycle",
          report.audit.coverage_percent / 100)
    gauge("juanzong_audit_last_findings", "Findings of the last audit run", len(report.audit.last_findings))
    gauge("juanzong_storage_objects", "AIPs in the storage root", report.storage.objects)
    gauge("juanzong_storage_bytes", "Bytes of content in the storage root", report.storage.bytes)
    gauge("juanzong_storage_free_bytes", "Free bytes on the storage root's file system", report.storage.free_bytes)
    return generate_latest(registry)


def operations_router(settings: Settings) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/status", response_model=StatusReport)
    def status() -> StatusReport:
        return status_report(settings)

    @router.get("/metrics")
    def metrics() -> Response:
        return Response(metrics_text(status_report(settings)), media_type=CONTENT_TYPE_LATEST)

    return router
