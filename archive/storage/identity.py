"""The identity of a storage root, recorded in the catalog that describes it.

A storage root carries ``extensions/juanzong-identity/root.json`` (a UUID written when the
root is created); the catalog's ``storageroot`` table records it per role (``primary``,
``replica``). ``bind_storage_root`` runs before a process opens its store:

- root and catalog agree: go on;
- the catalog records a root but the folder holds none: refused (E450), nothing is created,
  so a process with another ``JUANZONG_HOME`` never works on an empty root and reports
  archived AIPs missing;
- the folder holds another root: refused (E451); a root with an identity the catalog does not
  record belongs to another catalog: refused (E452);
- neither knows the other: the first process creates the root (if absent) and records it, under
  the catalog's lock, so two first processes agree on one identity. A root made before
  identities existed is adopted when it and the catalog agree on being empty or not.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime, timezone
from pathlib import Path

from sqlmodel import select

from archive.catalog import session
from archive.catalog.models import Aip, StorageRoot
from archive.locks import is_postgres, open_locks
from archive.storage.ocfl import ROOT_NAMASTE, OcflStore
from schemas.errors import ConfigurationError

IDENTITY_FILE = Path("extensions") / "juanzong-identity" / "root.json"


def read_root_id(root: Path) -> str | None:
    """The root's UUID, or None when the folder has no identity file."""
    try:
        return str(json.loads((root / IDENTITY_FILE).read_bytes())["root_id"])
    except FileNotFoundError:
        return None


def write_root_id(root: Path) -> str:
    """Give an OCFL root a new identity (atomically: a reader sees none or the whole file)."""
    root_id = str(uuid.uuid4())
    path = root / IDENTITY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    tmp.write_text(json.dumps({"root_id": root_id,
                               "created": datetime.now(timezone.utc).isoformat()}) + "\n")
    os.replace(tmp, path)
    return root_id


def _recorded(catalog_url: str, role: str) -> StorageRoot | None:
    with session(catalog_url) as s:
        return s.get(StorageRoot, role)


def check_storage_root(catalog_url: str, root: Path, role: str = "primary") -> str | None:
    """The root's identity when the catalog records this very root; None when neither knows
    the other yet; raises E450/E451/E452 otherwise. Creates nothing."""
    recorded, found = _recorded(catalog_url, role), read_root_id(root)
    if recorded is not None:
        where = f"{role} root, first at {recorded.first_path}"
        if found == recorded.root_id:
            return found
        if not (root / ROOT_NAMASTE).exists():
            raise ConfigurationError("E450", str(root), expected=recorded.root_id, reason=where)
        raise ConfigurationError("E451", str(root), expected=recorded.root_id,
                                 found=found or "a root without identity", reason=where)
    if found is not None:
        raise ConfigurationError("E452", str(root), found=found,
                                 reason=f"this catalog records no {role} root")
    return None


def bind_storage_root(catalog_url: str, root: Path, role: str = "primary") -> str:
    """Check the root against the catalog; on first use create and record it. Returns its id.
    Anything but agreement is checked again under the lock: another first user may be between
    writing the root's identity and recording it."""
    try:
        known = check_storage_root(catalog_url, root, role)
    except ConfigurationError:
        known = None
    if known is not None:
        return known
    with open_locks(catalog_url).hold(f"storage-root:{role}"):
        known = check_storage_root(catalog_url, root, role)
        return known if known is not None else _create_and_record(catalog_url, root, role)


def _create_and_record(catalog_url: str, root: Path, role: str) -> str:
    existed = (root / ROOT_NAMASTE).exists()
    store = OcflStore(root, locks=open_locks(catalog_url) if is_postgres(catalog_url) else None)
    if existed:
        _check_adoptable(catalog_url, store)
    root_id = write_root_id(root)
    with session(catalog_url) as s:
        s.add(StorageRoot(role=role, root_id=root_id, first_path=str(root.absolute())))
        s.commit()
    return root_id


def _check_adoptable(catalog_url: str, store: OcflStore) -> None:
    """A root made before identities existed joins this catalog only if both hold AIPs or
    neither does: an empty catalog must not claim another archive's objects."""
    with session(catalog_url) as s:
        catalog_has_aips = s.exec(select(Aip.aip_id).limit(1)).first() is not None
    root_has_objects = next(iter(store.object_ids()), None) is not None
    if catalog_has_aips != root_has_objects:
        raise ConfigurationError("E452", str(store.root), found="a root without identity",
                                 reason="its objects and this catalog's AIPs do not match")
