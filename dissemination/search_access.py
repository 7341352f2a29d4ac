"""Turn ``--as ROLE:PRINCIPAL_ID`` into the search access filter, from what the catalog records:
a party sees the cases where that ID number is a recorded party, a lawyer the cases with an
authorisation for that licence number; both see only disclosable 正卷 documents, and of an
archived case only once an archivist approved one of their reading requests for it.
``search_as`` is the one search behind ``juanzong search`` and ``GET /search``."""

from __future__ import annotations

from sqlalchemy import and_, or_
from sqlmodel import select

from archive.catalog import session
from archive.catalog.models import Aip, Case, DisseminationRequest, LawyerAuthorisation
from config import Settings
from dissemination.keyed_id import requester_digest, requester_secret
from dissemination.search.base import Access, SearchQuery, SearchResult
from dissemination.watermark import mask_id
from schemas.errors import InputRejected, Unavailable

ARCHIVIST = Access(all_cases=True, readers_view=False)


def access_for(settings: Settings, as_: str | None) -> Access:
    """No ``--as`` means the operator at the console: an archivist."""
    if not as_:
        return ARCHIVIST
    role, _, principal = as_.partition(":")
    if role in ("archivist", "auditor"):
        return ARCHIVIST
    with session(settings.catalog_url) as s:
        if role == "party":
            cases = [c.case_number for c in s.exec(select(Case)).all()
                     if any(principal and principal in (p.get("id_number"), p.get("credit_code"))
                            for p in c.parties)]
        elif role == "lawyer":
            cases = [a.case_number for a in s.exec(select(LawyerAuthorisation).where(
                LawyerAuthorisation.licence_number == principal)).all()]
        else:
            raise InputRejected("E504", as_, found=role)
        secret = requester_secret(settings)
        readable = [c for c in set(cases) if _readable_now(s, c, role, principal, secret)]
    return Access(all_cases=False, case_numbers=tuple(sorted(readable)), readers_view=True)


def search_as(settings: Settings, text: str, as_: str | None, *, case: str | None = None,
              size: int = 10, offset: int = 0) -> SearchResult:
    """One page of hits for ``text`` as the principal ``as_`` (``access_for``) may see them."""
    from dissemination.search.registry import open_index

    query = SearchQuery(text=text, access=access_for(settings, as_), case_number=case, size=size, offset=offset)
    try:
        return open_index(settings).search(query)
    except Unavailable as exc:
        if exc.code == "E610" and not _holds_aips(settings):  # nothing archived yet: nothing to find
            return SearchResult(total=0, hits=())
        raise


def _holds_aips(settings: Settings) -> bool:
    with session(settings.catalog_url) as s:
        return s.exec(select(Aip.aip_id).limit(1)).first() is not None


def _same_party(principal: str, secret: bytes):
    """A party's requests are known by the keyed hash of the whole ID number; those made before
    keyed hashes (migration 0007) by the masked ID, as they were then."""
    return or_(DisseminationRequest.requester_id_hmac == requester_digest(secret, principal),
               and_(DisseminationRequest.requester_id_hmac.is_(None),
                    DisseminationRequest.requester_id == mask_id(principal)))


def _readable_now(s, case_number: str, role: str, principal: str, secret: bytes) -> bool:
    """In progress: yes. Archived: once one of this reader's requests was approved (a party's
    requests are known by the ID number, a lawyer's by the licence number)."""
    case = s.get(Case, case_number)
    if case is None or case.status != "archived":
        return case is not None
    mine = (DisseminationRequest.licence_number == principal if role == "lawyer"
            else _same_party(principal, secret))
    approved = s.exec(select(DisseminationRequest).where(
        DisseminationRequest.case_number == case_number, DisseminationRequest.role == role, mine,
        DisseminationRequest.status.in_(("approved", "issued")))).first()
    return approved is not None
