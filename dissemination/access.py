"""Who may read what: the one access policy that search, the reading API and the CLI share.

Rules (issue 5):
- a party (当事人) reads a case when name AND ID number match a party recorded for it;
- a lawyer (律师) reads a case when a licence number is given and an authorisation for
  that lawyer name and licence number is on file for the case;
- an archivist reads every case;
- a verified party or lawyer of an archived case waits for an archivist (pending_approval);
- an unknown case is refused for everybody.

Only the 正卷's disclosable documents are ever given to parties and lawyers; that filter
lives with the documents (``dip.build_dip`` refuses anything else as defence in depth),
``reader_scope`` tells search which view to use. Every non-issued decision carries a
stable code and a bilingual reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict

from schemas.errors import describe

Role = Literal["party", "lawyer", "archivist"]
CaseStatus = Literal["in_progress", "closed", "archived"]
DecisionStatus = Literal["issued", "pending_approval", "refused"]


class Requester(BaseModel):
    """A person asking to read, as identified (identity verification happens before this)."""

    model_config = ConfigDict(frozen=True)

    name: str
    id_number: str
    role: Role
    licence_number: str | None = None


class CaseFacts(BaseModel):
    """What the catalog knows about a case that matters for access."""

    model_config = ConfigDict(frozen=True)

    case_number: str
    status: CaseStatus
    parties: tuple[tuple[str, str], ...] = ()  # (name, id_number)
    lawyer_authorisations: tuple[tuple[str, str], ...] = ()  # (lawyer_name, licence_number)


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: DecisionStatus
    code: str | None
    reason: str


class ReaderScope(NamedTuple):
    """What search may show: every case, or these cases only; readers_view = disclosable 正卷 only."""

    all_cases: bool
    case_numbers: tuple[str, ...]
    readers_view: bool


def _norm(value: str | None) -> str:
    return "".join((value or "").split()).upper()


def bilingual(code: str, path: str) -> str:
    """The registry's Chinese and English text for ``code``, in that order."""
    return f"{describe(code, 'zh', path=path)} / {describe(code, 'en', path=path)}"


def _refused(code: str, case_number: str) -> Decision:
    return Decision(status="refused", code=code, reason=bilingual(code, case_number))


def is_recorded_party(requester: Requester, case: CaseFacts) -> bool:
    who = (_norm(requester.name), _norm(requester.id_number))
    return bool(who[1]) and any((_norm(n), _norm(i)) == who for n, i in case.parties)


def is_authorised_lawyer(requester: Requester, case: CaseFacts) -> bool:
    who = (_norm(requester.name), _norm(requester.licence_number))
    return bool(who[1]) and any((_norm(n), _norm(lic)) == who for n, lic in case.lawyer_authorisations)


def _identity_problem(requester: Requester, case: CaseFacts) -> str | None:
    """The code that stops this party or lawyer, or None when they are who the case records."""
    if requester.role == "party":
        return None if is_recorded_party(requester, case) else "E500"
    if not _norm(requester.licence_number):
        return "E506"
    return None if is_authorised_lawyer(requester, case) else "E501"


def decide(requester: Requester, case: CaseFacts | None) -> Decision:
    """Issue, hold for approval, or refuse one request; the only place this is decided."""
    if case is None:
        return _refused("E503", "-")
    if requester.role == "archivist":
        return Decision(status="issued", code=None, reason="档案员 / archivist")
    if requester.role not in ("party", "lawyer"):
        return Decision(status="refused", code="E504", reason=bilingual("E504", case.case_number))
    problem = _identity_problem(requester, case)
    if problem:
        return _refused(problem, case.case_number)
    if case.status == "archived":
        return Decision(status="pending_approval", code="E502", reason=bilingual("E502", case.case_number))
    who = "当事人 / party" if requester.role == "party" else "授权律师 / authorised lawyer"
    return Decision(status="issued", code=None, reason=f"{case.case_number}: {who}")


def reader_scope(requester: Requester, case_facts_list: Iterable[CaseFacts]) -> ReaderScope:
    """The search scope: archivists see everything; others only cases they may read now."""
    if requester.role == "archivist":
        return ReaderScope(all_cases=True, case_numbers=(), readers_view=False)
    allowed = sorted({c.case_number for c in case_facts_list if decide(requester, c).status == "issued"})
    return ReaderScope(all_cases=False, case_numbers=tuple(allowed), readers_view=True)
