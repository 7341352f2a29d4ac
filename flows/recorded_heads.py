"""What the archive recorded of each AIP's head, apart from storage: the catalog's head version
and the newest version the hash-chained log names (with its inventory digest). Verify, audit and
export compare storage with it (``archive.verify.check_head``)."""

from __future__ import annotations

from sqlmodel import select

from archive.auditlog import logged_versions
from archive.catalog import session
from archive.catalog.models import Aip
from archive.records import ocfl_id_for
from archive.verify import RecordedHead
from config import Settings


def recorded_heads(settings: Settings, aip_id: str | None = None) -> dict[str, RecordedHead]:
    """OCFL object id -> its recorded head, for every AIP the catalog or the log knows (or one)."""
    query = select(Aip.aip_id, Aip.head_version)
    with session(settings.catalog_url) as s:
        rows = s.exec(query if aip_id is None else query.where(Aip.aip_id == aip_id)).all()
    catalog = {ocfl_id_for(a): v for a, v in rows}
    logged = logged_versions(settings.log_dir)
    if aip_id is not None:
        logged = {k: v for k, v in logged.items() if k == ocfl_id_for(aip_id)}
    return {oid: RecordedHead(catalog_version=catalog.get(oid),
                              log_version=logged[oid].version if oid in logged else None,
                              log_inventory_sha512=logged[oid].inventory_sha512 if oid in logged else None)
            for oid in catalog.keys() | logged.keys()}
