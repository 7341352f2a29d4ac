"""OCFL store: versions, dedup, checkout, replica, and crash safety (checked by ocfl-py's validator)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from archive.storage import OcflStore, ReplicatedStore, StaleHead, open_store
from archive.storage.ocfl import STAGING_EXTENSION
from tests.archive.conftest import store_make_bag, store_validate_root

OBJECT = "urn:uuid:6f1d3c2e-0000-4e8f-9c1d-2b3a4c5d6e7f"


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_second_version_dedups_and_checkout_gives_each_state(tmp_path: Path, store_bag: Path, store_copy):
    store = OcflStore(tmp_path / "root")
    v1_state = _tree(store_bag)
    assert store.commit(OBJECT, store_bag, message="归档", agent="archivist") == 1
    src = store_copy(store_bag, "v2src")
    (src / "data" / "METS.xml").write_bytes(b"<mets v='2'/>\n")
    (src / "data" / "scans" / "0003.pdf").write_bytes(b"%PDF-1.7 added\n")
    assert store.commit(OBJECT, src, message="补充归档", agent="archivist") == 2
    store_validate_root(store.root)

    inventory = store.inventory(OBJECT)
    v2_content = [cp for cps in inventory["manifest"].values() for cp in cps if cp.startswith("v2/")]
    assert sorted(v2_content) == ["v2/content/data/METS.xml", "v2/content/data/scans/0003.pdf"]
    assert store.files(OBJECT)["data/scans/0001.pdf"].content_path == "v1/content/data/scans/0001.pdf"
    assert _tree(store.checkout(OBJECT, tmp_path / "out1", 1)) == v1_state
    assert _tree(store.checkout(OBJECT, tmp_path / "out2")) == _tree(src)
    assert store.head(OBJECT) == 2 and list(store.object_ids()) == [OBJECT]
    record = store.files(OBJECT, 1)["data/METS.xml"]
    assert record.size == 8 and store.path(OBJECT, "data/METS.xml", 1).read_bytes() == b"<mets/>\n"


def test_a_new_root_opened_by_many_flows_at_once(tmp_path: Path):
    """Ingests that start together each open the store; none may take another's half-made root
    for a foreign folder (E404)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: OcflStore(tmp_path / "root"), range(32)))
    store_validate_root(tmp_path / "root")


def test_replica_receives_identical_versions(tmp_path: Path, store_bag: Path):
    store = open_store(tmp_path / "primary", tmp_path / "replica")
    assert isinstance(store, ReplicatedStore)
    created = datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc)
    store.commit(OBJECT, store_bag, message="归档", agent="archivist", created=created)
    store_validate_root(tmp_path / "primary")
    store_validate_root(tmp_path / "replica")
    assert store.replica.head(OBJECT) == 1
    primary_obj = _tree(store.primary.object_dir(OBJECT))
    assert primary_obj == _tree(store.replica.object_dir(OBJECT))


def test_replicate_catches_up_a_new_replica(tmp_path: Path, store_bag: Path):
    primary = OcflStore(tmp_path / "primary")
    primary.commit(OBJECT, store_bag, message="one", agent="a")
    primary.commit(OBJECT, store_bag, message="two", agent="a")
    replicated = ReplicatedStore(primary, OcflStore(tmp_path / "replica"))
    assert replicated.replicate(OBJECT) == [1, 2]
    assert _tree(primary.object_dir(OBJECT)) == _tree(replicated.replica.object_dir(OBJECT))
    store_validate_root(tmp_path / "replica")


def _commit_in_child(root: str, src: str, marker: str) -> None:
    """The commit, as a test backend that stops for good once big.bin is in the staging area
    (and says so in ``marker``): the parent kills it there, whatever the machine's load."""
    import archive.storage.ocfl as ocfl

    real_fsync = ocfl._fsync_file

    def fsync_then_stop(path: Path) -> None:
        real_fsync(path)
        if path.name == "big.bin":
            Path(marker).write_text(str(path))
            while True:
                time.sleep(60)

    ocfl._fsync_file = fsync_then_stop
    OcflStore(Path(root)).commit(OBJECT, Path(src), message="big", agent="crash-test")


def _kill_while_staging(root: Path, src: Path) -> None:
    """Start a commit in a child and SIGKILL it once it has copied into the staging area."""
    marker = root.parent / f"{root.name}.staged"
    child = multiprocessing.get_context("fork").Process(target=_commit_in_child,
                                                        args=(str(root), str(src), str(marker)))
    child.start()
    staging = root / "extensions" / STAGING_EXTENSION
    deadline = time.monotonic() + 600  # a deadline for a hang, not a timing: the wait is on the marker
    while not marker.exists() and child.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not marker.exists():
        child.kill()
        pytest.fail("commit never reached the staging copy")
    assert Path(marker.read_text()).is_relative_to(staging)
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    assert child.exitcode == -signal.SIGKILL


@pytest.fixture(scope="module")
def store_big_source(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("big") / "src"
    (src / "data").mkdir(parents=True)
    with open(src / "data" / "big.bin", "wb") as handle:
        for _ in range(48):
            handle.write(os.urandom(1 << 20))
    return src


def test_crash_during_first_commit_leaves_no_object(tmp_path: Path, store_big_source: Path):
    root = tmp_path / "root"
    OcflStore(root)
    _kill_while_staging(root, store_big_source)
    store = OcflStore(root)
    assert store.head(OBJECT) is None and list(store.object_ids()) == []
    store_validate_root(root)
    assert store.commit(OBJECT, store_big_source, message="again", agent="a") == 1
    assert list(store.staging_root.iterdir()) == []
    store_validate_root(root)


def test_crash_during_second_commit_keeps_first_version(tmp_path: Path, store_bag: Path, store_big_source: Path):
    root = tmp_path / "root"
    store = OcflStore(root)
    store.commit(OBJECT, store_bag, message="v1", agent="a")
    _kill_while_staging(root, store_big_source)
    assert store.head(OBJECT) == 1
    assert not (store.object_dir(OBJECT) / "v2").exists()
    store_validate_root(root)


def test_interrupted_inventory_switch_is_rolled_forward(tmp_path: Path, store_bag: Path, store_copy):
    store = OcflStore(tmp_path / "root")
    store.commit(OBJECT, store_bag, message="v1", agent="a")
    src = store_copy(store_bag, "v2")
    (src / "extra.txt").write_text("x")
    store.commit(OBJECT, src, message="v2", agent="a")
    obj = store.object_dir(OBJECT)
    (obj / "inventory.json.sha512").write_bytes((obj / "v1" / "inventory.json.sha512").read_bytes())
    assert store.recover(OBJECT) is True
    store_validate_root(store.root)


def test_commit_refuses_a_version_built_on_a_stale_head(tmp_path, sig_signer):
    """Two writers built v2 from v1: the second commit must not drop the first one's files."""
    store = OcflStore(tmp_path / "root")
    first = store_make_bag(tmp_path / "a", sig_signer, {"one.txt": b"1"})
    store.commit("urn:x:stale", first, message="v1", agent="t", expected_head=None)
    second = store_make_bag(tmp_path / "b", sig_signer, {"one.txt": b"1", "two.txt": b"2"})
    assert store.commit("urn:x:stale", second, message="v2", agent="t", expected_head=1) == 2
    third = store_make_bag(tmp_path / "c", sig_signer, {"one.txt": b"1", "three.txt": b"3"})
    with pytest.raises(StaleHead):
        store.commit("urn:x:stale", third, message="v2 again", agent="t", expected_head=1)
    assert store.head("urn:x:stale") == 2
    store_validate_root(tmp_path / "root")
