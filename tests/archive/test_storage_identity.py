"""A storage root carries an identity the catalog records: another root is refused, never
handed out empty (archive/storage/identity.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from archive.storage import OcflStore
from archive.storage.identity import bind_storage_root, check_storage_root, read_root_id
from config import Settings
from flows._runtime import open_store
from schemas.errors import ConfigurationError
from tests.conftest import BIN


def _refusal(catalog_url: str, root: Path) -> str:
    with pytest.raises(ConfigurationError) as refused:
        bind_storage_root(catalog_url, root)
    return refused.value.code


def test_first_use_creates_and_records_the_root_then_finds_it_again(catalog_url, tmp_path):
    root = tmp_path / "storage"
    root_id = bind_storage_root(catalog_url, root)
    assert read_root_id(root) == root_id and (root / "0=ocfl_1.1").is_file()
    assert bind_storage_root(catalog_url, root) == root_id == check_storage_root(catalog_url, root)


def test_two_first_users_at_once_agree_on_one_root(catalog_url, tmp_path):
    root = tmp_path / "storage"
    with ThreadPoolExecutor(4) as pool:
        ids = set(pool.map(lambda _: bind_storage_root(catalog_url, root), range(4)))
    assert ids == {read_root_id(root)}


def test_another_home_with_the_same_catalog_is_refused_and_nothing_is_created(catalog_url, tmp_path):
    """The bug: a process with another JUANZONG_HOME made an empty root and reported every
    archived AIP missing."""
    bind_storage_root(catalog_url, tmp_path / "storage")
    elsewhere = tmp_path / "other-home" / "storage"
    assert _refusal(catalog_url, elsewhere) == "E450"
    assert not elsewhere.exists()
    settings = Settings(home=tmp_path / "other-home", catalog_url=catalog_url)
    with pytest.raises(ConfigurationError):
        open_store(settings)
    assert not elsewhere.exists()


def test_another_archives_root_is_refused(catalog_url, tmp_path):
    bind_storage_root(catalog_url, tmp_path / "ours")
    theirs = tmp_path / "theirs"
    bind_storage_root(f"sqlite:///{tmp_path / 'theirs.sqlite'}", theirs)
    assert _refusal(catalog_url, theirs) == "E451"


def test_a_root_another_catalog_recorded_is_refused_by_a_new_catalog(catalog_url, tmp_path):
    theirs = tmp_path / "theirs"
    bind_storage_root(f"sqlite:///{tmp_path / 'theirs.sqlite'}", theirs)
    assert _refusal(catalog_url, theirs) == "E452"


def test_a_root_from_before_identities_is_adopted_only_by_a_catalog_that_agrees(catalog_url, tmp_path, store_bag):
    empty = tmp_path / "empty-old-root"
    OcflStore(empty)
    assert bind_storage_root(catalog_url, empty) == read_root_id(empty)
    held = tmp_path / "old-root-with-objects"
    OcflStore(held).commit("urn:x:1", store_bag, message="v1", agent="t")
    other_catalog = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    assert _refusal(other_catalog, held) == "E452" and read_root_id(held) is None


def test_info_names_a_wrong_root_with_its_code(tmp_path):
    """``juanzong info`` refuses too (exit 5, E450 on stdout), before any flow runs."""
    home = tmp_path / "home"
    catalog = f"sqlite:///{home / 'catalog.sqlite'}"
    bind_storage_root(catalog, home / "storage")
    env = {**os.environ, "JUANZONG_HOME": str(tmp_path / "other"), "JUANZONG_CATALOG_URL": catalog}
    proc = subprocess.run([str(BIN / "juanzong"), "info", "--json"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 5, proc.stderr
    assert json.loads(proc.stdout)["error"]["code"] == "E450"
    env["JUANZONG_HOME"] = str(home)
    proc = subprocess.run([str(BIN / "juanzong"), "info", "--json"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert json.loads(proc.stdout)["storage_root_id"] == read_root_id(home / "storage")
