"""OCFL 1.1 storage root on a local (or mounted) file system.

Layout: extension 0003-hash-and-id-n-tuple-storage-layout (sha256, 3 tuples of 3).
The brief asked for 0004-hashed-n-tuple-storage-layout, but ocfl-py 2.1's validator
rejects any layout it does not implement (E071) and it implements 0002 and 0003 only;
0003 is the registered extension it accepts. Inventories use sha512 with a sha256
fixity block; unchanged files are not copied again (forward-delta dedup).

Atomic commit: the version is built in ``extensions/juanzong-staging/<object key>-<uuid>/``
(the validator skips the storage root's extensions directory), its digests are re-read
and checked, then a new object appears with one rename of its topmost new directory,
or a new version directory is renamed into an existing object and the root inventory
and its sidecar are replaced last with ``os.replace``. A crash before the version
rename leaves nothing visible; a crash between that rename and the inventory switch is
rolled forward by ``recover`` (the version directory is complete and verified by then).

Writers of one object take turns under that object's lock (``archive.locks``): PostgreSQL
advisory locks when the catalog is on PostgreSQL (writers on several machines), ``fcntl``
files in ``extensions/juanzong-locks/`` by default. Writers of different objects run at once;
each removes only its own object's staging left by a crashed writer.

OCFL inventories carry no file sizes, so each version's content sizes are kept in the
object extension ``extensions/juanzong-sizes/vN.json``; audits use them to report a
truncated file as a size fault.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import EllipsisType
from urllib.parse import quote

from archive.fixity import digest_files
from archive.locks import FileLocks, Locks
from archive.storage.base import FileRecord, StaleHead, Store, VersionInfo
from schemas.errors import InputRejected, NotFound, VerificationFailed

SPEC = "1.1"
ROOT_NAMASTE = "0=ocfl_1.1"
OBJECT_NAMASTE = "0=ocfl_object_1.1"
INVENTORY = "inventory.json"
SIDECAR = "inventory.json.sha512"
INVENTORY_TYPE = "https://ocfl.io/1.1/spec/#inventory"
LAYOUT = "0003-hash-and-id-n-tuple-storage-layout"
LAYOUT_DESCRIPTION = ("Extension 0003: Hashed Truncated N-tuple Trees with Object ID "
                      "Encapsulating Directory for OCFL Storage Hierarchies")
STAGING_EXTENSION = "juanzong-staging"
LOCKS_EXTENSION = "juanzong-locks"
SIZES_EXTENSION = "juanzong-sizes"
_VERSION_RE = re.compile(r"^v([1-9]\d*)$")


def object_path_for(object_id: str) -> str:
    """The 0003 layout path (sha256, tupleSize 3, numberOfTuples 3) relative to the root."""
    digest = hashlib.sha256(object_id.encode("utf-8")).hexdigest()
    encoded = "".join(c if re.match(r"[A-Za-z0-9_-]", c) else
                      "".join(f"%{b:02x}" for b in c.encode("utf-8")) for c in object_id)
    if len(encoded) > 100:
        encoded = f"{encoded[:100]}-{digest}"
    return "/".join([digest[0:3], digest[3:6], digest[6:9], encoded])


def format_created(created: datetime) -> str:
    if created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    return created.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def inventory_bytes(inventory: dict) -> bytes:
    return (json.dumps(inventory, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def sidecar_bytes(inventory_data: bytes) -> bytes:
    return f"{hashlib.sha512(inventory_data).hexdigest()} {INVENTORY}\n".encode("ascii")


@dataclass
class SourceFile:
    logical_path: str
    path: Path
    sha512: str
    sha256: str
    size: int


@dataclass
class VersionPlan:
    """What one commit will write: the new inventory and the files to copy (ocfl-py's NewVersion)."""

    version: int
    inventory: dict
    copies: list[tuple[SourceFile, str]] = field(default_factory=list)  # (source, content path)
    sizes: dict[str, int] = field(default_factory=dict)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def scan_source(src_dir: Path, jobs: int = 0) -> list[SourceFile]:
    """Every regular file under ``src_dir`` with its digests, sorted by logical path; links refused."""
    paths: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(src_dir):
        for name in sorted(dirnames + filenames):
            candidate = Path(dirpath) / name
            if candidate.is_symlink():
                raise InputRejected("E117", str(candidate))
        paths.extend(Path(dirpath) / name for name in filenames)
    paths.sort(key=lambda p: p.relative_to(src_dir).as_posix())
    return [SourceFile(p.relative_to(src_dir).as_posix(), p, d["sha512"], d["sha256"], size)
            for p, d, size in digest_files(paths, jobs=jobs)]


def plan_version(object_id: str, previous: dict | None, sources: list[SourceFile], *,
                 message: str, agent: str, created: datetime) -> VersionPlan:
    """The next inventory: new digests get content paths in the new version, known ones are reused."""
    number = 1 if previous is None else int(previous["head"][1:]) + 1
    name = f"v{number}"
    inventory = json.loads(json.dumps(previous)) if previous else {
        "id": object_id, "type": INVENTORY_TYPE, "digestAlgorithm": "sha512",
        "contentDirectory": "content", "manifest": {}, "fixity": {"sha256": {}}, "versions": {}}
    inventory["head"] = name
    plan = VersionPlan(number, inventory)
    state: dict[str, list[str]] = {}
    for source in sources:
        state.setdefault(source.sha512, []).append(source.logical_path)
        if source.sha512 in inventory["manifest"]:
            continue
        content_path = f"{name}/content/{source.logical_path}"
        inventory["manifest"][source.sha512] = [content_path]
        inventory["fixity"]["sha256"].setdefault(source.sha256, []).append(content_path)
        plan.copies.append((source, content_path))
        plan.sizes[content_path] = source.size
    inventory["versions"][name] = {
        "created": format_created(created), "message": message, "state": state,
        "user": {"name": agent, "address": f"urn:juanzong:agent:{quote(agent, safe='')}"}}
    return plan


class OcflStore(Store):
    """An OCFL 1.1 storage root; created (empty) on first use.

    ``locks`` serialise the writers of each object; the default, lock files inside the root,
    suits writers on one machine."""

    def __init__(self, root: Path, *, jobs: int = 0, locks: Locks | None = None) -> None:
        self.root = Path(root)
        self.jobs = jobs
        self._given_locks = locks
        self.locks = locks or FileLocks(self.root / "extensions" / LOCKS_EXTENSION)
        self._init_root()

    # --- layout ---------------------------------------------------------------------

    @property
    def staging_root(self) -> Path:
        return self.root / "extensions" / STAGING_EXTENSION

    def object_dir(self, object_id: str) -> Path:
        return self.root / object_path_for(object_id)

    def _init_root(self) -> None:
        """Create the root's declaration files under a lock: two flows opening a new root at
        once must not take each other's half-made root for a foreign one."""
        namaste = self.root / ROOT_NAMASTE
        if namaste.exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with self._root_lock():
            if not namaste.exists():
                self._create_root(namaste)

    @contextmanager
    def _root_lock(self) -> Iterator[None]:
        """The given locks (shared storage: NFS refuses ``flock`` on a directory), else an
        ``flock`` on the root folder itself (the embedded default: a lock file would make the
        new root non-empty)."""
        if self._given_locks is not None:
            with self._given_locks.hold("ocfl-root-init"):
                yield
            return
        fd = os.open(self.root, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _create_root(self, namaste: Path) -> None:
        if any(self.root.iterdir()):
            raise InputRejected("E404", str(self.root), reason="not empty and not an OCFL storage root")
        layout_dir = self.root / "extensions" / LAYOUT
        layout_dir.mkdir(parents=True, exist_ok=True)
        config = {"extensionName": LAYOUT, "digestAlgorithm": "sha256", "tupleSize": 3, "numberOfTuples": 3}
        _write_file(layout_dir / "config.json", json.dumps(config, indent=2).encode())
        layout = {"extension": LAYOUT, "description": LAYOUT_DESCRIPTION}
        _write_file(self.root / "ocfl_layout.json", json.dumps(layout, indent=2).encode())
        _write_file(namaste, b"ocfl_1.1\n")

    # --- reading --------------------------------------------------------------------

    def inventory(self, object_id: str) -> dict | None:
        """The object's root inventory, or None if the object does not exist."""
        path = self.object_dir(object_id) / INVENTORY
        if not path.is_file():
            return None
        return json.loads(path.read_bytes())

    def inventory_sha512(self, object_id: str, version: int | None = None) -> str | None:
        """SHA-512 of a version's inventory file as stored (default: the root inventory, which
        equals the head version's); None when there is none."""
        folder = self.object_dir(object_id)
        path = (folder if version is None else folder / f"v{version}") / INVENTORY
        return hashlib.sha512(path.read_bytes()).hexdigest() if path.is_file() else None

    def _require(self, object_id: str) -> dict:
        inventory = self.inventory(object_id)
        if inventory is None:
            raise NotFound("E406", object_id)
        return inventory

    def head(self, object_id: str) -> int | None:
        inventory = self.inventory(object_id)
        return None if inventory is None else int(inventory["head"][1:])

    def sizes(self, object_id: str) -> dict[str, int]:
        """Content path -> size recorded at commit, for every version up to head."""
        inventory = self._require(object_id)
        folder = self.object_dir(object_id) / "extensions" / SIZES_EXTENSION
        recorded: dict[str, int] = {}
        for name in inventory["versions"]:
            path = folder / f"{name}.json"
            if path.is_file():
                recorded.update(json.loads(path.read_bytes()))
        return recorded

    def files(self, object_id: str, version: int | None = None) -> dict[str, FileRecord]:
        inventory = self._require(object_id)
        name = inventory["head"] if version is None else f"v{version}"
        if name not in inventory["versions"]:
            raise NotFound("E406", f"{object_id} {name}")
        sha256_of = {cp: d for d, cps in inventory.get("fixity", {}).get("sha256", {}).items() for cp in cps}
        sizes = self.sizes(object_id)
        base = self.object_dir(object_id)
        records = {}
        for digest, logical_paths in inventory["versions"][name]["state"].items():
            content_path = inventory["manifest"][digest][0]
            for logical in logical_paths:
                records[logical] = FileRecord(
                    logical_path=logical, content_path=content_path, path=base / content_path,
                    size=sizes.get(content_path), sha512=digest, sha256=sha256_of.get(content_path))
        return dict(sorted(records.items()))

    def version_info(self, object_id: str, version: int) -> VersionInfo:
        entry = self._require(object_id)["versions"][f"v{version}"]
        created = datetime.strptime(entry["created"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        return VersionInfo(version=version, created=created, message=entry.get("message", ""),
                           agent=entry.get("user", {}).get("name", ""))

    def checkout(self, object_id: str, dest: Path, version: int | None = None) -> Path:
        if dest.exists() and any(dest.iterdir()):
            raise InputRejected("E404", str(dest), reason="checkout destination is not empty")
        for logical, record in self.files(object_id, version).items():
            target = dest / logical
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(record.path, target)
        dest.mkdir(parents=True, exist_ok=True)
        return dest

    def object_ids(self) -> Iterator[str]:
        for dirpath, dirnames, filenames in os.walk(self.root):
            if Path(dirpath) == self.root and "extensions" in dirnames:
                dirnames.remove("extensions")
            if OBJECT_NAMASTE in filenames:
                dirnames.clear()
                inventory = Path(dirpath) / INVENTORY
                if inventory.is_file():
                    yield json.loads(inventory.read_bytes())["id"]

    # --- writing --------------------------------------------------------------------

    @staticmethod
    def staging_prefix(object_id: str) -> str:
        """Names of one object's staging entries start with this."""
        return hashlib.sha256(object_id.encode("utf-8")).hexdigest()[:24] + "-"

    @contextmanager
    def _locked(self, object_id: str) -> Iterator[str]:
        """One writer per object; staging a crashed writer of this object left is removed first.
        Yields the prefix of this writer's staging names."""
        self.staging_root.mkdir(parents=True, exist_ok=True)
        prefix = self.staging_prefix(object_id)
        with self.locks.hold(f"ocfl-object:{object_id}"):
            for entry in self.staging_root.iterdir():
                if entry.name.startswith(prefix):
                    shutil.rmtree(entry, ignore_errors=True)
            yield prefix

    def commit(self, object_id: str, src_dir: Path, *, message: str, agent: str,
               created: datetime | None = None, expected_head: int | None | EllipsisType = ...) -> int:
        if not src_dir.is_dir():
            raise NotFound("E999", str(src_dir), reason="commit source folder does not exist")
        with self._locked(object_id) as prefix:
            self.recover(object_id)
            if expected_head is not ... and self.head(object_id) != expected_head:
                raise StaleHead(object_id, expected_head, self.head(object_id))
            sources = scan_source(src_dir, self.jobs)
            plan = plan_version(object_id, self.inventory(object_id), sources, message=message, agent=agent,
                                created=created or datetime.now(timezone.utc))
            stage = self.staging_root / f"{prefix}{uuid.uuid4().hex}"
            try:
                self._build_and_publish(object_id, plan, stage)
            finally:
                shutil.rmtree(stage, ignore_errors=True)
            return plan.version

    def _build_and_publish(self, object_id: str, plan: VersionPlan, stage: Path) -> None:
        obj = self.object_dir(object_id)
        name = f"v{plan.version}"
        if plan.version == 1:
            parts = Path(object_path_for(object_id)).parts
            first_new = next(i for i in range(len(parts)) if not (self.root.joinpath(*parts[: i + 1])).exists())
            staged_obj = stage.joinpath(*parts[first_new:])
            self._write_version(plan, staged_obj)
            _write_file(staged_obj / OBJECT_NAMASTE, b"ocfl_object_1.1\n")
            self._write_inventory(plan.inventory, staged_obj)
            os.rename(stage / parts[first_new], self.root.joinpath(*parts[: first_new + 1]))
            return
        self._write_version(plan, stage / "object")
        sizes_name = f"extensions/{SIZES_EXTENSION}/{name}.json"
        (obj / sizes_name).parent.mkdir(parents=True, exist_ok=True)
        os.replace(stage / "object" / sizes_name, obj / sizes_name)
        os.rename(stage / "object" / name, obj / name)
        self._switch_root_inventory(object_id, obj / name)

    def _write_version(self, plan: VersionPlan, obj: Path) -> None:
        """Copy new content, check it by re-reading, write the version inventory and the sizes record."""
        name = f"v{plan.version}"
        for source, content_path in plan.copies:
            target = obj / content_path
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source.path, target)
            _fsync_file(target)
        written = [obj / cp for _, cp in plan.copies]
        for (source, content_path), (_, digests, size) in zip(plan.copies, digest_files(written, jobs=self.jobs)):
            if digests["sha512"] != source.sha512 or digests["sha256"] != source.sha256:
                raise VerificationFailed("E402", str(source.path), expected=source.sha512,
                                         found=digests["sha512"])
            if size != source.size:
                raise VerificationFailed("E401", str(source.path), expected=source.size, found=size)
        self._write_inventory(plan.inventory, obj / name)
        _write_file(obj / "extensions" / SIZES_EXTENSION / f"{name}.json",
                    json.dumps(plan.sizes, indent=1, sort_keys=True, ensure_ascii=False).encode())

    @staticmethod
    def _write_inventory(inventory: dict, folder: Path) -> None:
        data = inventory_bytes(inventory)
        _write_file(folder / INVENTORY, data)
        _write_file(folder / SIDECAR, sidecar_bytes(data))

    def _switch_root_inventory(self, object_id: str, version_dir: Path) -> None:
        """Make the object's root inventory the version's (inventory first, sidecar right after)."""
        obj = self.object_dir(object_id)
        tmp = self.staging_root / f"{self.staging_prefix(object_id)}switch-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            for name in (INVENTORY, SIDECAR):
                shutil.copyfile(version_dir / name, tmp / name)
                _fsync_file(tmp / name)
            os.replace(tmp / INVENTORY, obj / INVENTORY)
            os.replace(tmp / SIDECAR, obj / SIDECAR)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def purge(self, object_id: str) -> bool:
        """Remove the whole object (disposal): one rename takes it out of the hierarchy, then the
        renamed tree is deleted; emptied tuple folders go too. False when there was no object."""
        obj = self.object_dir(object_id)
        with self._locked(object_id) as prefix:
            if not obj.is_dir():
                return False
            doomed = self.staging_root / f"{prefix}purge-{uuid.uuid4().hex}"  # a crash leaves it to the next writer
            os.rename(obj, doomed)
            shutil.rmtree(doomed)
            folder = obj.parent
            while folder != self.root and folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
                folder = folder.parent
        return True

    def recover(self, object_id: str) -> bool:
        """Roll forward a commit interrupted between its version rename and inventory switch."""
        obj = self.object_dir(object_id)
        if not (obj / INVENTORY).is_file():
            return False
        numbers = sorted(int(m.group(1)) for p in obj.iterdir() if (m := _VERSION_RE.match(p.name)))
        if not numbers:
            return False
        top = obj / f"v{numbers[-1]}"
        same = all((top / n).read_bytes() == (obj / n).read_bytes() for n in (INVENTORY, SIDECAR)
                   if (obj / n).is_file()) and (obj / SIDECAR).is_file()
        if same:
            return False
        self._switch_root_inventory(object_id, top)
        return True
