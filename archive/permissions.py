"""Who may do what: one matrix of role × action, enforced here for the console, the HTTP API and
the CLI's decisions alike.

A principal is a console account (``user:NAME``, roles from ``archive.accounts``) or a machine
holding an API key (``Principal`` rows: stations, the reading service, archivists' keys). Routes
and commands name the action they perform; ``authorize`` is the only place that answers.
Actions marked ``content`` show archive content (documents, page images and text, parties'
identities): the system and security administrators hold none of them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from archive.catalog import session
from archive.catalog.models import ConsoleUser, Principal
from schemas.errors import InputRejected

USER_PREFIX = "user:"


class Action(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    roles: frozenset[str]
    content: bool = False


def _a(name: str, roles: str, content: bool = False) -> Action:
    return Action(name=name, roles=frozenset(roles.split()), content=content)


MATRIX: dict[str, Action] = {a.name: a for a in (
    _a("dashboard.view", "sysadmin secadmin secauditor archivist auditor"),
    _a("content.read", "archivist auditor", content=True),
    _a("quarantine.read", "archivist", content=True),
    _a("quarantine.decide", "archivist", content=True),
    _a("review.read", "archivist auditor", content=True),
    _a("review.accept", "archivist", content=True),
    _a("request.read", "archivist reading-service", content=True),
    _a("request.create", "archivist reading-service", content=True),
    _a("request.decide", "archivist", content=True),
    _a("change.decide", "archivist", content=True),  # volume, disclosure, parties, owning station
    _a("audit.read", "archivist auditor secauditor"),
    _a("audit.run", "archivist auditor"),
    _a("operation.run", "archivist"),
    _a("check4.signoff", "archivist auditor"),
    _a("retention.appraise", "archivist"),
    _a("retention.approve", "archivist auditor"),
    _a("retention.hold", "archivist auditor"),
    _a("retention.dispose", "archivist", content=True),
    _a("log.read", "auditor secauditor"),
    _a("accounts.read", "sysadmin secadmin secauditor"),
    _a("accounts.manage", "sysadmin"),
    _a("roles.assign", "secadmin"),
    _a("settings.read", "sysadmin"),
    _a("batch.submit", "station"),
    _a("search.on_behalf", "reading-service"),
)}


def is_allowed(roles: tuple[str, ...] | list[str], action: str) -> bool:
    return bool(MATRIX[action].roles & set(roles))


def roles_of(catalog_url: str, principal_id: str | None) -> tuple[str, ...]:
    """A principal's roles: an enabled console account's, or an API key holder's."""
    if not principal_id:
        return ()
    with session(catalog_url) as s:
        if principal_id.startswith(USER_PREFIX):
            user = s.get(ConsoleUser, principal_id.removeprefix(USER_PREFIX))
            return () if user is None or user.disabled else tuple(user.roles or ())
        principal = s.get(Principal, principal_id)
        return () if principal is None else tuple(principal.roles or ())


def authorize(catalog_url: str, principal_id: str | None, action: str, target: str, *,
              code: str = "E807") -> None:
    """Raise ``code`` unless ``principal_id`` may perform ``action`` on ``target``.
    ``code`` keeps the API's older, documented refusals (E509, E152) where they exist."""
    if is_allowed(roles_of(catalog_url, principal_id), action):
        return
    if code == "E807":
        raise InputRejected(code, target, expected=action, found=principal_id or "-")
    if code == "E152":
        raise InputRejected(code, target, expected="archivist", found=principal_id or "-")
    raise InputRejected(code, target, found=principal_id or "-")


PERSON_KINDS = ("archivist", "auditor")  # API key holders who are people, not stations or services


def require_person(s, principal_id: str, action: str, target: str) -> str:
    """``id (name)`` of the person ``principal_id`` (a console account, or an archivist's or auditor's
    key) allowed to ``action``; E701 for a station, a service, an unknown or disabled principal.
    Decisions that a named person must take (sign-offs, appraisals, disposal, 归档) call this."""
    if principal_id.startswith(USER_PREFIX):
        user = s.get(ConsoleUser, principal_id.removeprefix(USER_PREFIX))
        person = (tuple(user.roles or ()), user.display_name or user.username) if user and not user.disabled else None
    else:
        row = s.get(Principal, principal_id)
        person = (tuple(row.roles or ()), row.name) if row and row.kind in PERSON_KINDS else None
    if person is None or not is_allowed(person[0], action):
        raise InputRejected("E701", target, found=principal_id)
    return f"{principal_id} ({person[1]})"
