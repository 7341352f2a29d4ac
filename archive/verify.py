"""Verify one stored AIP: OCFL inventories, every content file, stray files, the bag and its signature.

Returns findings, never raises for a fault in storage: the caller (audit, CLI) decides.
Content is checked against the OCFL inventory (sha512, plus recorded sizes); the bag
manifests are then checked against the inventory's digests, so every stored file is
read once. The signature is checked over the tag manifest bytes actually on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Collection
from pathlib import Path
from typing import Literal

from cryptography import x509
from pydantic import BaseModel, ConfigDict

from archive.fixity import digest_files
from archive.signing import SIGNATURE_NAME, SIGNED_FILE, verify_detached
from archive.storage.ocfl import INVENTORY, OBJECT_NAMASTE, SIDECAR, SIZES_EXTENSION, OcflStore
from archive.storage.replicated import ReplicatedStore
from archive.storage.base import Store

Kind = Literal["missing", "size", "digest", "signature", "inventory", "extra",
               "rollback", "uncatalogued", "absent", "substituted", "catalog"]
_CODES = {"missing": "E400", "size": "E401", "digest": "E402", "signature": "E403",
          "inventory": "E404", "extra": "E405", "rollback": "E409", "uncatalogued": "E410",
          "absent": "E411", "substituted": "E412", "catalog": "E414"}
HEAD_KINDS = frozenset({"rollback", "uncatalogued", "absent", "substituted", "catalog"})  # no file repairs these


class Finding(BaseModel):
    """One fault: which object, which file (relative to the storage root), what kind, expected vs actual."""

    model_config = ConfigDict(frozen=True)

    object_id: str
    path: str
    kind: Kind
    expected: str | None = None
    actual: str | None = None
    reason: str = ""

    @property
    def code(self) -> str:
        return _CODES[self.kind]


class RecordedHead(BaseModel):
    """What the archive recorded of an object's head, apart from the object itself: the catalog's
    head version, and the newest version the hash-chained log names with its inventory digest.
    An object can check itself only against itself, so a rolled-back object (the newest version
    deleted, the older inventory put back) is whole by its own account; only these disagree."""

    model_config = ConfigDict(frozen=True)

    catalog_version: int | None = None
    log_version: int | None = None
    log_inventory_sha512: str | None = None

    @property
    def version(self) -> int | None:
        known = [v for v in (self.catalog_version, self.log_version) if v is not None]
        return max(known) if known else None


def check_head(store: Store, object_id: str, recorded: RecordedHead | None) -> list[Finding]:
    """The object's head against the recorded head: E409 older (rolled back), E410 newer than the
    catalog knows (or unknown to it), E411 absent from storage, E412 same version, other inventory."""
    ocfl = ocfl_of(store)
    prefix = ocfl.object_dir(object_id).relative_to(ocfl.root).as_posix()
    path = f"{prefix}/{INVENTORY}"
    head = ocfl.head(object_id) if (ocfl.object_dir(object_id) / INVENTORY).is_file() else None
    recorded = recorded or RecordedHead()
    expected = recorded.version

    def finding(kind: Kind, reason: str, want: object, found: object) -> list[Finding]:
        return [Finding(object_id=object_id, path=path, kind=kind, reason=reason,
                        expected=None if want is None else str(want), actual=None if found is None else str(found))]

    if head is None:
        return finding("absent", "recorded object is not in storage", expected, None) if expected else []
    if expected is not None and head < expected:
        return finding("rollback", "storage head is older than the recorded head", f"v{expected}", f"v{head}")
    if recorded.catalog_version is None or head > recorded.catalog_version:
        return finding("uncatalogued", "storage holds a version the catalog does not know",
                       f"v{recorded.catalog_version}" if recorded.catalog_version else "none", f"v{head}")
    if recorded.log_version == head and recorded.log_inventory_sha512:
        actual = ocfl.inventory_sha512(object_id)
        if actual != recorded.log_inventory_sha512:
            return finding("substituted", "head inventory differs from the one the log recorded",
                           recorded.log_inventory_sha512, actual)
    return []


def ocfl_of(store: Store) -> OcflStore:
    """The OCFL store behind ``store`` (the primary of a replicated store)."""
    while isinstance(store, ReplicatedStore):
        store = store.primary
    if not isinstance(store, OcflStore):
        raise TypeError(f"{type(store).__name__} is not an OCFL store")
    return store


def verify_object(store: Store, object_id: str, trusted: list[x509.Certificate] | None = None, *,
                  content: Literal["all", "none"] | Collection[str] = "all", jobs: int = 2) -> list[Finding]:
    """Every fault of one object. ``content``: check all content files, none, or these content paths."""
    ocfl = ocfl_of(store)
    obj = ocfl.object_dir(object_id)
    prefix = obj.relative_to(ocfl.root).as_posix()
    context = _Context(object_id, obj, prefix)
    inventory = _check_inventories(context)
    if inventory is None:
        return context.findings
    manifest = {cp: d for d, cps in inventory["manifest"].items() for cp in cps}
    selected = manifest if content == "all" else {} if content == "none" else {
        cp: manifest[cp] for cp in content if cp in manifest}
    _check_content(context, selected, ocfl.sizes(object_id), jobs)
    _check_extra(context, inventory, manifest)
    _check_bag(context, inventory, trusted)
    return context.findings


class _Context:
    def __init__(self, object_id: str, obj: Path, prefix: str) -> None:
        self.object_id, self.obj, self.prefix = object_id, obj, prefix
        self.findings: list[Finding] = []

    def add(self, rel: str, kind: Kind, reason: str, expected: object = None, actual: object = None) -> None:
        self.findings.append(Finding(
            object_id=self.object_id, path=f"{self.prefix}/{rel}", kind=kind, reason=reason,
            expected=None if expected is None else str(expected), actual=None if actual is None else str(actual)))


def _load_inventory(context: _Context, folder: str) -> dict | None:
    rel = f"{folder}/{INVENTORY}" if folder else INVENTORY
    path, sidecar = context.obj / rel, context.obj / f"{rel}.sha512"
    if not path.is_file() or not sidecar.is_file():
        context.add(rel if not path.is_file() else f"{rel}.sha512", "missing", "inventory or sidecar missing")
        return None
    data = path.read_bytes()
    expected = sidecar.read_text(errors="replace").split(" ")[0].strip()
    actual = hashlib.sha512(data).hexdigest()
    if expected != actual:
        context.add(rel, "inventory", "inventory does not match its sidecar digest", expected, actual)
        return None
    try:
        inventory = json.loads(data)
        inventory["manifest"], inventory["versions"], inventory["head"]  # noqa: B018
    except (ValueError, KeyError, TypeError) as exc:
        context.add(rel, "inventory", f"inventory is not a valid OCFL inventory ({exc})")
        return None
    return inventory


def _check_inventories(context: _Context) -> dict | None:
    """The root inventory if it is sound; every version inventory is checked against its sidecar too."""
    if not (context.obj / OBJECT_NAMASTE).is_file():
        context.add(OBJECT_NAMASTE, "missing", "object declaration missing")
    inventory = _load_inventory(context, "")
    if inventory is None:
        return None
    for version in inventory["versions"]:
        _load_inventory(context, version)
    head_copy = context.obj / inventory["head"] / INVENTORY
    if head_copy.is_file() and head_copy.read_bytes() != (context.obj / INVENTORY).read_bytes():
        context.add(INVENTORY, "inventory", f"root inventory differs from {inventory['head']}/{INVENTORY}")
    return inventory


def _check_content(context: _Context, selected: dict[str, str], sizes: dict[str, int], jobs: int) -> None:
    present = []
    for content_path in sorted(selected):
        path = context.obj / content_path
        if not path.is_file():
            context.add(content_path, "missing", "content file listed in the inventory is missing",
                        selected[content_path], "missing")
            continue
        recorded = sizes.get(content_path)
        actual_size = path.stat().st_size
        if recorded is not None and actual_size != recorded:
            context.add(content_path, "size", "content file size differs from the size at commit",
                        recorded, actual_size)
            continue
        present.append(content_path)
    paths = [context.obj / cp for cp in present]
    for content_path, (_, digests, _size) in zip(present, digest_files(paths, ("sha512",), jobs)):
        if digests["sha512"] != selected[content_path]:
            context.add(content_path, "digest", "content sha512 differs from the inventory",
                        selected[content_path], digests["sha512"])


def expected_files(inventory: dict, manifest: dict[str, str]) -> set[str]:
    """Object-relative paths that belong in an object with this inventory."""
    expected = {OBJECT_NAMASTE, INVENTORY, SIDECAR, *manifest}
    for version in inventory["versions"]:
        expected |= {f"{version}/{INVENTORY}", f"{version}/{SIDECAR}",
                     f"extensions/{SIZES_EXTENSION}/{version}.json"}
    return expected


def _check_extra(context: _Context, inventory: dict, manifest: dict[str, str]) -> None:
    expected = expected_files(inventory, manifest)
    for dirpath, _dirs, filenames in os.walk(context.obj):
        for name in filenames:
            rel = (Path(dirpath) / name).relative_to(context.obj).as_posix()
            if rel not in expected:
                context.add(rel, "extra", "file in the object is in no inventory", None, rel)


def _bag_lines(path: Path) -> dict[str, str]:
    """A BagIt manifest as logical path -> digest."""
    entries = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        digest, _, name = line.strip().partition(" ")
        if name:
            entries[name.strip().lstrip("*")] = digest.lower()
    return entries


def _check_bag(context: _Context, inventory: dict, trusted: list[x509.Certificate] | None) -> None:
    """Bag manifests against the head version's inventory digests, then the tag manifest signature."""
    head = inventory["versions"][inventory["head"]]["state"]
    content_of = {lp: inventory["manifest"][d][0] for d, lps in head.items() for lp in lps}
    if "bagit.txt" not in content_of:
        return
    digests = {"sha512": {lp: d for d, lps in head.items() for lp in lps},
               "sha256": _sha256_by_logical(inventory, content_of)}
    for manifest_name, payload in (("manifest-sha256.txt", True), ("manifest-sha512.txt", True),
                                   ("tagmanifest-sha256.txt", False), ("tagmanifest-sha512.txt", False)):
        _check_bag_manifest(context, content_of, digests, manifest_name, payload)
    _check_signature(context, content_of, trusted)


def _sha256_by_logical(inventory: dict, content_of: dict[str, str]) -> dict[str, str]:
    by_content = {cp: d for d, cps in inventory.get("fixity", {}).get("sha256", {}).items() for cp in cps}
    return {lp: by_content.get(cp, "") for lp, cp in content_of.items()}


def _check_bag_manifest(context: _Context, content_of: dict[str, str], digests: dict[str, dict[str, str]],
                        manifest_name: str, payload: bool) -> None:
    if manifest_name not in content_of:
        context.add(f"(bag)/{manifest_name}", "missing", f"bag has no {manifest_name}")
        return
    path = context.obj / content_of[manifest_name]
    if not path.is_file():
        return  # already reported as missing content
    algorithm = "sha512" if manifest_name.endswith("sha512.txt") else "sha256"
    listed = _bag_lines(path)
    for logical, digest in sorted(listed.items()):
        if logical not in content_of:
            context.add(f"(bag)/{logical}", "missing", f"listed in {manifest_name} but not in the AIP", digest)
        elif digests[algorithm][logical] != digest:
            context.add(content_of[logical], "digest", f"{manifest_name} disagrees with the stored file",
                        digest, digests[algorithm][logical])
    if payload:
        for logical in sorted(lp for lp in content_of if lp.startswith("data/") and lp not in listed):
            context.add(content_of[logical], "extra", f"payload file not listed in {manifest_name}")


def _check_signature(context: _Context, content_of: dict[str, str], trusted: list[x509.Certificate] | None) -> None:
    if SIGNATURE_NAME not in content_of:
        context.add(f"(bag)/{SIGNATURE_NAME}", "signature", "the AIP version carries no signature")
        return
    signature, manifest = context.obj / content_of[SIGNATURE_NAME], context.obj / content_of[SIGNED_FILE]
    if not signature.is_file() or not manifest.is_file():
        context.add(content_of[SIGNATURE_NAME], "signature", "signature or tag manifest missing in storage")
        return
    label = f"{context.prefix}/{content_of[SIGNATURE_NAME]}"
    for problem in verify_detached(manifest.read_bytes(), signature.read_bytes(), label, trusted):
        context.add(content_of[SIGNATURE_NAME], "signature", problem.message)
