"""Identity verification: is the person asking the party or lawyer the case records?

The default, ``CatalogVerifier``, needs no outside service: the name and ID number must match
a party recorded for the case, or the name and licence number an authorisation on file. The
adapter point for a real-person check (face recognition against the ID photo, an SMS code to
the phone registered with the court) is ``ProviderVerifier``: it asks a provider callable
first and then the catalog, so a provider can never widen who may read. ``http_provider``
turns any JSON endpoint into such a callable through an ``httpx.Client`` the caller owns.

Verification runs in the reading API (and the CLI) before ``access.decide``; it never
writes to the catalog and never sees the case documents.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping

import httpx
from pydantic import BaseModel, ConfigDict

from dissemination.access import (
    CaseFacts,
    Requester,
    bilingual,
    is_authorised_lawyer,
    is_recorded_party,
)
from schemas.errors import describe

Evidence = Mapping[str, str]  # e.g. {"face_token": ...} or {"sms_code": ...}
ProviderCheck = Callable[[Requester, Evidence], tuple[bool, str]]  # (confirmed, provider's reason)


class Verification(BaseModel):
    """The verifier's verdict; ``code``/``reason`` say why when not verified."""

    model_config = ConfigDict(frozen=True)

    verified: bool
    method: str
    code: str | None = None
    reason: str = ""


class IdentityVerifier(ABC):
    """Checks a requester's identity for one case. Runs in the request path of the API and
    CLI: it must answer within a request's time, must not write to the catalog, and must
    not raise for a person who fails the check (that is a ``Verification``)."""

    @property
    @abstractmethod
    def method(self) -> str:
        """A short name for the audit trail, e.g. ``catalog`` or ``face+catalog``."""

    @abstractmethod
    def verify(self, requester: Requester, case: CaseFacts | None,
               evidence: Evidence | None = None) -> Verification:
        """Verified, or not with a stable code and a bilingual reason."""


class CatalogVerifier(IdentityVerifier):
    """Match against the parties and lawyer authorisations the catalog records for the case."""

    @property
    def method(self) -> str:
        return "catalog"

    def verify(self, requester: Requester, case: CaseFacts | None,
               evidence: Evidence | None = None) -> Verification:
        if case is None:
            return self._no("E503", "-")
        if requester.role == "archivist":
            return Verification(verified=True, method=self.method, reason="archivist principal")
        if requester.role == "party":
            ok, code = is_recorded_party(requester, case), "E500"
        elif requester.role == "lawyer":
            ok = is_authorised_lawyer(requester, case)
            code = "E501" if (requester.licence_number or "").strip() else "E506"
        else:
            return self._no("E504", case.case_number)
        return Verification(verified=True, method=self.method) if ok else self._no(code, case.case_number)

    def _no(self, code: str, path: str) -> Verification:
        return Verification(verified=False, method=self.method, code=code, reason=bilingual(code, path))


class ProviderVerifier(IdentityVerifier):
    """Adapter point: an outside provider confirms the person, then the catalog check runs.

    ``provider(requester, evidence) -> (confirmed, reason)`` wraps a face-recognition or SMS
    service; it receives only what identifies the person, never case content."""

    def __init__(self, provider: ProviderCheck, *, name: str,
                 records: IdentityVerifier | None = None) -> None:
        self._provider, self._name = provider, name
        self._records = records or CatalogVerifier()

    @property
    def method(self) -> str:
        return f"{self._name}+{self._records.method}"

    def verify(self, requester: Requester, case: CaseFacts | None,
               evidence: Evidence | None = None) -> Verification:
        path = case.case_number if case else "-"
        try:
            confirmed, why = self._provider(requester, evidence or {})
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            confirmed, why = False, f"{self._name} unavailable: {type(exc).__name__}"
        if not confirmed:
            reason = f"{describe('E514', 'zh', path=path, reason=why)} / " \
                     f"{describe('E514', 'en', path=path, reason=why)}"
            return Verification(verified=False, method=self.method, code="E514", reason=reason)
        inner = self._records.verify(requester, case, evidence)
        return inner.model_copy(update={"method": self.method})


def http_provider(client: httpx.Client, path: str) -> ProviderCheck:
    """A provider callable that POSTs ``{name, id_number, evidence}`` to ``path`` and expects
    ``{"match": bool, "reason": str}``; the client carries base URL, auth and timeouts."""

    def check(requester: Requester, evidence: Evidence) -> tuple[bool, str]:
        response = client.post(path, json={"name": requester.name, "id_number": requester.id_number,
                                           "evidence": dict(evidence)})
        response.raise_for_status()
        body = response.json()
        return bool(body["match"]), str(body.get("reason", ""))

    return check
