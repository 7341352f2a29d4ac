"""销毁清单: the disposal list an archive files and signs on paper, from the catalog's tombstones.

One row per disposed case (序号, 档号, 案号, 案卷题名, 保管期限, 起算依据, 到期日期, 鉴定人, 批准人,
销毁人, 销毁时间, 销毁理由, 墓碑摘要), in the order disposed, for a period. The tombstone digest
ties each row to the signed tombstone kept in the storage root and in the log.
"""

from __future__ import annotations

import hashlib
import html
from datetime import date, datetime, time, timezone

from pydantic import BaseModel
from sqlmodel import Session, col, select

from archive.catalog.models import Tombstone
from archive.tombstone import TombstoneBody

COLUMNS = ("序号", "档号", "案号", "案卷题名", "保管期限", "起算依据", "到期日期", "鉴定人", "批准人",
           "销毁人", "销毁时间", "销毁理由", "墓碑摘要 (SHA-256)")


class DisposalRow(BaseModel):
    body: TombstoneBody
    digest: str

    def cells(self, number: int) -> list[str]:
        b = self.body
        return [str(number), b.archival_code or "—", b.case_number, b.title, b.retention_period, b.retention_basis,
                b.due_date, b.appraised_by, b.approved_by, b.disposed_by, b.disposed_at.strftime("%Y-%m-%d %H:%M UTC"),
                b.reason, self.digest]


def disposal_rows(s: Session, start: date | None = None, end: date | None = None) -> list[DisposalRow]:
    """Tombstones of cases disposed of between ``start`` and ``end`` (inclusive), oldest first."""
    query = select(Tombstone).order_by(Tombstone.disposed_at)
    if start:
        query = query.where(col(Tombstone.disposed_at) >= datetime.combine(start, time.min))
    if end:
        query = query.where(col(Tombstone.disposed_at) <= datetime.combine(end, time.max))
    return [DisposalRow(body=TombstoneBody.model_validate_json(t.body),
                        digest=hashlib.sha256(t.body.encode("utf-8")).hexdigest()) for t in s.exec(query).all()]


def render_disposal_list(rows: list[DisposalRow], *, fonds: str, start: date | None, end: date | None) -> str:
    """A self-contained HTML page in Chinese, with signature lines for the people who sign it."""
    esc = html.escape
    period = f"{start or '—'} 至 {end or '—'}"
    head = "".join(f"<th>{esc(c)}</th>" for c in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r.cells(i)) + "</tr>" for i, r in enumerate(rows, 1))
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html><html lang="zh"><head><meta charset="utf-8"><title>档案销毁清单 {esc(fonds)}</title>
<style>body{{font-family:sans-serif}}table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:2px 6px;font-size:90%;word-break:break-all}}</style></head><body>
<h1>档案销毁清单</h1>
<p>全宗号：{esc(fonds)}　销毁期间：{esc(period)}　共 {len(rows)} 卷　生成时间：{esc(made)}</p>
<table><tr>{head}</tr>{body}</table>
<p>每一行的墓碑摘要是存储根目录 extensions/juanzong-tombstones/ 中已签名墓碑文件的 SHA-256，
该墓碑同时记录于目录库与哈希链审计日志。</p>
<p>鉴定小组成员（签字）：＿＿＿＿＿＿　批准人（签字）：＿＿＿＿＿＿　监销人（签字）：＿＿＿＿＿＿　日期：＿＿＿＿</p>
</body></html>
"""
