"""The catalog's own soundness, checked by every audit: the database's integrity check
(SQLite ``PRAGMA integrity_check``) and that each AIP's head is its newest recorded version.
Storage against the catalog is ``archive.verify.check_head``'s part."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import select

from archive.catalog import session
from archive.catalog.models import Aip, AipVersion
from archive.verify import Finding

CATALOG = "catalog"


def check_catalog(catalog_url: str) -> list[Finding]:
    label = catalog_url.removeprefix("sqlite:///").rsplit("@", 1)[-1]
    findings = []
    with session(catalog_url) as s:
        if s.get_bind().dialect.name == "sqlite":
            result = [row[0] for row in s.exec(sa.text("PRAGMA integrity_check")).all()]
            if result != ["ok"]:
                findings.append(Finding(object_id=CATALOG, path=label, kind="catalog",
                                        reason="; ".join(result)[:500], expected="ok", actual=result[0][:200]))
        newest = dict(s.exec(select(AipVersion.aip_id, sa.func.max(AipVersion.version)).group_by(AipVersion.aip_id)).all())
        for aip_id, head in s.exec(select(Aip.aip_id, Aip.head_version)).all():
            if newest.get(aip_id) != head:
                findings.append(Finding(object_id=aip_id, path=label, kind="catalog", expected=f"v{head}",
                                        actual=f"v{newest.get(aip_id)}",
                                        reason="the AIP's head is not its newest recorded version"))
    return findings
