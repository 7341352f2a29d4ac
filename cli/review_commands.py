"""CLI commands of the archivist's OCR review: ``review list|show|accept`` and ``ocr retry``.

``register(app, get_settings)`` adds them to the ``juanzong`` Typer app; errors are raised as
``JuanzongError`` and become exit codes in ``cli.main.main``. With ``--json`` each command
prints exactly one JSON object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

import typer
from rich.table import Table

from archive import review
from config import Settings
from cli._output import JsonOpt
from cli._output import emit as _emit


def register(app: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    _register_review(app, get_settings)
    _register_retry(app, get_settings)


def _register_retry(app: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    sub = typer.Typer(help="OCR of archived documents.")
    app.add_typer(sub, name="ocr")

    @sub.command("retry")
    def retry(case: Optional[str] = typer.Option(None, "--case", help="Only this 案号."),
              document: Optional[str] = typer.Option(None, "--document", help="Only this document id."),
              as_json: bool = JsonOpt) -> None:
        """Re-OCR documents whose OCR failed; each case read this time gets a new AIP version."""
        from cli._progress import with_progress
        from flows.retry_ocr import retry_ocr

        out = with_progress(not as_json, lambda: retry_ocr(get_settings(), case_number=case, document_id=document))
        text = (f"re-OCR'd {len(out.retried)} documents into "
                f"{', '.join(f'{a.case_number} {a.aip_id} v{a.version}' for a in out.aips) or 'no new version'}"
                + "".join(f"\nfailed again: {d}: {e}" for d, e in out.failed_again.items()))
        if not out.retried and not out.failed_again:
            text = "no document with failed OCR to retry / 没有需要重新识别的材料"
        _emit(out.model_dump(mode="json"), as_json, text, 0 if not out.failed_again else 1)


def _register_review(app: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    sub = typer.Typer(help="Pages the OCR flagged (low confidence, blank, failed) for an archivist's review.")
    app.add_typer(sub, name="review")

    @sub.command("list")
    def list_(case: Optional[str] = typer.Option(None, "--case", help="Only this 案号."),
              flag: Optional[str] = typer.Option(None, "--flag", help="low_confidence | blank | ocr_failed"),
              all_: bool = typer.Option(False, "--all", help="Include pages already reviewed."),
              as_json: bool = JsonOpt) -> None:
        """Flagged pages awaiting review."""
        items = review.pending(get_settings().catalog_url, case_number=case, flag=flag, include_reviewed=all_)
        table = Table(title=f"{len(items)} pages to review / 待审核页面")
        for column in ("document", "page", "case", "file", "flags", "confidence", "reviewed"):
            table.add_column(column)
        for i in items:
            table.add_row(i.document_id, str(i.page), i.case_number, i.source_path, ", ".join(i.flags),
                          "-" if i.confidence is None else f"{i.confidence:.1f}", "yes" if i.reviewed else "no")
        _emit({"pages": [i.model_dump() for i in items]}, as_json, table)

    @sub.command("show")
    def show(document_id: str, page: int, as_json: bool = JsonOpt) -> None:
        """One flagged page: its recognised text, confidence, flags and where its scan lies in the AIP."""
        item = review.show(get_settings().catalog_url, document_id, page)
        confidence = "-" if item.confidence is None else f"{item.confidence:.1f}"
        text = (f"{item.case_number} {item.title} ({item.source_path}) page {item.page}\n"
                f"AIP {item.aip_id} v{item.aip_version}: page {item.page} of {item.image_path}\n"
                f"flags: {', '.join(item.flags) or '-'}  confidence: {confidence}  OCR: {item.ocr_status}  "
                f"reviewed: {'yes' if item.reviewed else 'no'}\n---\n{item.text}")
        _emit(item.model_dump(), as_json, text)

    @sub.command("accept")
    def accept(document_id: str,
               pages: Optional[list[int]] = typer.Argument(None, help="Page numbers to accept."),
               all_of_document: bool = typer.Option(False, "--all-of-document",
                                                    help="Every flagged page of the document not yet reviewed."),
               by: str = typer.Option(..., "--by", "--as", help="The archivist's principal id, e.g. archivist:wang."),
               note: str = typer.Option("", "--note", help="Why the page is acceptable as read."),
               as_json: bool = JsonOpt) -> None:
        """Accept flagged pages as read; who, when and why go into the preservation log."""
        if bool(pages) == all_of_document:
            raise typer.BadParameter("give page numbers or --all-of-document (not both)")
        items = review.accept(get_settings().catalog_url, document_id, pages or None, principal_id=by, note=note)
        _emit({"accepted": [i.model_dump() for i in items]}, as_json,
              f"accepted {len(items)} pages of {document_id}: {', '.join(str(i.page) for i in items) or '-'}")
