"""Console accounts: the people who sign in, their roles, passwords and lock-out.

Roles follow 三员管理 (GB/T 39784, DA/T 92) beside the archive's own staff:

    sysadmin    系统管理员  accounts and settings; reads no archive content
    secadmin    安全保密管理员  assigns roles; reads no archive content
    secauditor  安全审计员  reads everyone's audit trail; changes nothing
    archivist   档案管理员  quarantine, OCR review, reading requests, 归档
    auditor     审计员  fixity audits, 四性检测 reports

An officer role is exclusive: an account holding one of the three holds nothing else, so no one
holds two of them. Passwords are stored as scrypt hashes (RFC 7914, the standard library's
``hashlib.scrypt``); a new account's password is random and shown once. ``LOCK_AFTER`` wrong
passwords in a row lock the account until the system administrator unlocks it. Every change and
every sign-in is a preservation event naming the person (``record_event``), so it enters the
hash-chained log.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlmodel import select

from archive.catalog import session
from archive.catalog.models import ConsoleSession, ConsoleUser, utcnow
from archive.catalog.record import record_event
from schemas.errors import InputRejected, NotFound

ROLES = ("sysadmin", "secadmin", "secauditor", "archivist", "auditor")
OFFICER_ROLES = frozenset({"sysadmin", "secadmin", "secauditor"})
LOCK_AFTER = 10
_USERNAME = re.compile(r"[a-z][a-z0-9._-]{1,63}")
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}


class Account(BaseModel):
    """What the console shows of an account; never the hash."""

    model_config = ConfigDict(frozen=True)

    username: str
    display_name: str
    roles: tuple[str, ...]
    locked: bool
    disabled: bool
    created_by: str
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, row: ConsoleUser) -> Account:
        return cls(username=row.username, display_name=row.display_name, roles=tuple(row.roles or ()),
                   locked=row.locked, disabled=row.disabled, created_by=row.created_by,
                   created_at=row.created_at, last_login_at=row.last_login_at)


# ---- passwords ------------------------------------------------------------------------------

def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt).decode()}${b64(digest).decode()}"


def is_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    expected = base64.b64decode(digest)
    found = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r),
                           p=int(p), dklen=len(expected))
    return hmac.compare_digest(found, expected)


def new_password() -> str:
    return secrets.token_urlsafe(15)


# ---- roles ----------------------------------------------------------------------------------

def check_roles(roles: list[str], username: str) -> None:
    """E803 for an unknown role; E804 when an officer role is combined with any other."""
    for role in roles:
        if role not in ROLES:
            raise InputRejected("E803", username, found=role, expected=", ".join(ROLES))
    if len(roles) > 1 and OFFICER_ROLES & set(roles):
        raise InputRejected("E804", username, found="+".join(roles))


def _actor(who: str) -> str:
    """The log's agent: a console user by name, or a given agent such as ``cli:root``."""
    return who if ":" in who else f"user:{who}"


def _row(s, username: str) -> ConsoleUser:
    row = s.get(ConsoleUser, username)
    if row is None:
        raise NotFound("E808", username)
    return row


# ---- accounts -------------------------------------------------------------------------------

def add_user(catalog_url: str, username: str, roles: list[str], *, by: str,
             display_name: str = "") -> tuple[Account, str]:
    """Create an account with a random password; returns it with the password (shown once)."""
    if not _USERNAME.fullmatch(username):
        raise InputRejected("E809", username)
    check_roles(roles, username)
    password = new_password()
    with session(catalog_url) as s:
        if s.get(ConsoleUser, username) is not None:
            raise InputRejected("E800", username)
        row = ConsoleUser(username=username, display_name=display_name or username, roles=list(roles),
                          password_hash=hash_password(password), created_by=by)
        s.add(row)
        record_event(s, "account created", agent=_actor(by),
                     detail=f"account {username} with roles {','.join(roles) or '(none)'}")
        s.commit()
        return Account.of(row), password


def list_users(catalog_url: str) -> list[Account]:
    with session(catalog_url) as s:
        return [Account.of(r) for r in s.exec(select(ConsoleUser).order_by(ConsoleUser.username)).all()]


def get_user(catalog_url: str, username: str) -> Account:
    with session(catalog_url) as s:
        return Account.of(_row(s, username))


def assign_roles(catalog_url: str, username: str, roles: list[str], *, by: str) -> Account:
    """The security administrator's decision. An officer's role never changes (retire the
    account instead) and no one changes their own roles."""
    check_roles(roles, username)
    if username == by:
        raise InputRejected("E810", username)
    with session(catalog_url) as s:
        row = _row(s, username)
        held = set(row.roles or ())
        if held & OFFICER_ROLES and set(roles) != held:
            raise InputRejected("E804", username, found="+".join(sorted(held | set(roles))))
        row.roles = list(roles)
        s.add(row)
        record_event(s, "role assignment", agent=_actor(by),
                     detail=f"account {username}: roles {','.join(sorted(held)) or '(none)'} -> "
                            f"{','.join(roles) or '(none)'}")
        s.commit()
        return Account.of(row)


def set_state(catalog_url: str, username: str, *, by: str, disabled: bool | None = None,
              unlock: bool = False) -> Account:
    """The system administrator disables/enables or unlocks an account (not their own)."""
    if username == by:
        raise InputRejected("E810", username)
    with session(catalog_url) as s:
        row = _row(s, username)
        changes = []
        if disabled is not None and row.disabled != disabled:
            row.disabled = disabled
            changes.append("disabled" if disabled else "enabled")
            if disabled:
                _end_sessions(s, username)
        if unlock and row.locked:
            row.locked, row.failed_logins = False, 0
            changes.append("unlocked")
        s.add(row)
        if changes:
            record_event(s, "account change", agent=_actor(by), detail=f"account {username}: {', '.join(changes)}")
        s.commit()
        return Account.of(row)


def reset_password(catalog_url: str, username: str, *, by: str) -> str:
    """A new random password (shown once); the account's sessions end."""
    password = new_password()
    with session(catalog_url) as s:
        row = _row(s, username)
        row.password_hash, row.failed_logins, row.locked = hash_password(password), 0, False
        s.add(row)
        _end_sessions(s, username)
        record_event(s, "account change", agent=_actor(by), detail=f"account {username}: password reset")
        s.commit()
    return password


def authenticate(catalog_url: str, username: str, password: str) -> Account:
    """The account if the password is right. Wrong passwords count towards the lock; an unknown
    name and a wrong password give the same answer (E801), a locked or disabled account E802."""
    with session(catalog_url) as s:
        row = s.get(ConsoleUser, username)
        if row is None:
            record_event(s, "login", agent=_actor(username[:64]), outcome="failure", detail="unknown account")
            s.commit()
            raise InputRejected("E801", username[:64])
        if row.locked or row.disabled:
            record_event(s, "login", agent=_actor(username), outcome="failure",
                         detail="account locked" if row.locked else "account disabled")
            s.commit()
            raise InputRejected("E802", username)
        if not is_password(password, row.password_hash):
            row.failed_logins += 1
            row.locked = row.failed_logins >= LOCK_AFTER
            s.add(row)
            record_event(s, "login", agent=_actor(username), outcome="failure",
                         detail=f"wrong password ({row.failed_logins} in a row)"
                                + ("; account locked" if row.locked else ""))
            s.commit()
            raise InputRejected("E802" if row.locked else "E801", username)
        row.failed_logins, row.last_login_at = 0, utcnow()
        s.add(row)
        record_event(s, "login", agent=_actor(username), detail="signed in to the console")
        s.commit()
        return Account.of(row)


def _end_sessions(s, username: str) -> None:
    for row in s.exec(select(ConsoleSession).where(ConsoleSession.username == username)).all():
        s.delete(row)
