"""A requester's ID number kept as a keyed hash: HMAC-SHA256 under a server secret.

The catalog shows the masked ID (``440103********2345``) and keeps the HMAC of the whole ID to
check who asks for a download link or searches an archived case: comparing masked IDs let any
ID with the same visible digits through. A plain SHA-256 would not do: an 18-digit 身份证号 with
a known birth date and region has few enough unknown digits to be found by trying them all;
without the secret nobody holding a copy of the catalog can. The secret lives beside the
dissemination key (0600), never in the catalog or the logs; it is one of the things to back up
with the keys (``juanzong catalog rebuild`` cannot recover it from storage).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from config import Settings

REQUESTER_SECRET_NAME = "requester-id.secret"


def server_secret(path: Path) -> bytes:
    """The 32-byte secret in ``path``, created once (0600) when missing."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
        if not path.is_file():  # another process may have made it meanwhile: keep the first
            tmp.replace(path)
        else:
            tmp.unlink()
    return path.read_bytes()


def requester_secret(settings: Settings) -> bytes:
    assert settings.dissemination_key is not None  # derived by Settings
    return server_secret(settings.dissemination_key.with_name(REQUESTER_SECRET_NAME))


def normalise_id(id_number: str) -> str:
    """The form that is hashed: no surrounding spaces, the check letter X in capitals."""
    return id_number.strip().upper()


def requester_digest(secret: bytes, id_number: str) -> str:
    return hmac.new(secret, normalise_id(id_number).encode("utf-8"), hashlib.sha256).hexdigest()


def is_same_requester(secret: bytes, id_number: str | None, stored: str | None) -> bool:
    """Whether ``id_number`` is the whole ID whose keyed hash is ``stored`` (constant time)."""
    if not id_number or not stored:
        return False
    return hmac.compare_digest(requester_digest(secret, id_number), stored)
