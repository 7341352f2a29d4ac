"""隔离区: rejected batches with their problems per file, a page image of a bad page, the
manifest to fix, release (and ingest again) or discard with a reason."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from api.console.operations import Operations
from api.console.web import Viewer, form_page, page, redirect, render
from config import Settings
from flows.submission import flow_submit
from ingest import quarantine as q
from ingest._exec.pdftoppm import page_png
from ingest.intake import run_submission
from ingest.manifest import MANIFEST_NAME
from schemas.errors import NotFound

_PAGE = re.compile(r"\bpage (\d+)")


def problems_by_file(entry: q.QuarantineEntry) -> dict[str, list[dict]]:
    """Each file's problems, with the page a problem names (for its image)."""
    grouped: dict[str, list[dict]] = defaultdict(list)
    for p in entry.problems:
        match = _PAGE.search(str(p.get("message", "")))
        grouped[str(p.get("path", ""))].append({**p, "page": int(match.group(1)) if match else None})
    return dict(grouped)


def batch_file(root: Path, entry: q.QuarantineEntry, rel: str) -> Path:
    """A file of the quarantined batch by its manifest path; never outside the batch."""
    base = q.batch_path(root, entry).resolve()
    path = (base / rel).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        raise NotFound("E151", f"{entry.id}/{rel}")
    return path


def add_routes(router: APIRouter, settings: Settings, ops: Operations) -> None:
    root = settings.quarantine_root

    @router.get("/quarantine")
    def entries(request: Request, viewer: Viewer = Depends(page(settings, "quarantine.read"))) -> Response:
        return render(request, "quarantine_list.html", viewer=viewer, title_key="quarantine.title",
                      entries=q.list_entries(root))

    @router.get("/quarantine/{qid}")
    def entry(request: Request, qid: str, viewer: Viewer = Depends(page(settings, "quarantine.read")),
              manifest_problems: list[dict] | None = None) -> Response:
        found = q.load_entry(root, qid)
        folder = q.batch_path(root, found)
        manifest = folder / MANIFEST_NAME
        text = manifest.read_text(encoding="utf-8", errors="replace") if manifest.is_file() else ""
        files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.pdf")) if folder.is_dir() else []
        return render(request, "quarantine_entry.html", viewer=viewer, title_key="quarantine.entry_title",
                      entry=found, by_file=problems_by_file(found), manifest=text, files=files,
                      manifest_problems=manifest_problems or [], problem_message=q.problem_message)

    @router.get("/quarantine/{qid}/page.png")
    def page_image(qid: str, file: str, page_number: int = 1,
                   viewer: Viewer = Depends(page(settings, "quarantine.read"))) -> Response:
        pdf = batch_file(root, q.load_entry(root, qid), file)
        return Response(page_png(pdf, max(page_number, 1)), media_type="image/png",
                        headers={"Cache-Control": "private, no-store"})

    @router.post("/quarantine/{qid}/manifest")
    def fix(request: Request, qid: str, manifest: str = Form(...),
            viewer: Viewer = Depends(form_page(settings, "quarantine.decide"))) -> Response:
        _, problems = q.fix_manifest(root, qid, manifest.encode("utf-8"), by=viewer.principal_id)
        if problems:
            return entry(request, qid, viewer, manifest_problems=problems)
        return redirect(f"/console/quarantine/{qid}")

    @router.post("/quarantine/{qid}/release")
    def release(qid: str, viewer: Viewer = Depends(form_page(settings, "quarantine.decide"))) -> Response:
        entry_, dest = q.release(root, qid, settings.intake_root, by=viewer.principal_id)

        def ingest_again() -> str:
            result = run_submission(dest, flow_submit(settings), quarantine_root=root)
            return f"batch {result.batch_id}: {result.status}"

        op = ops.start("ingest", viewer, ingest_again, target=entry_.batch_id)
        return redirect(f"/console/operations/{op.id}")

    @router.post("/quarantine/{qid}/discard")
    def discard(qid: str, reason: str = Form(...),
                viewer: Viewer = Depends(form_page(settings, "quarantine.decide"))) -> Response:
        q.discard(root, qid, principal_id=viewer.principal_id, reason=reason, catalog_url=settings.catalog_url)
        return redirect("/console/quarantine")
