"""Issue 14, item 10: a full disk keeps the ``--json`` contract. Every command prints its coded
JSON error (E166, naming the path) instead of a traceback and an empty stdout, and leaves
nothing half-written. The archive home is a small tmpfs filled to the last byte (needs root
or sudo for ``mount``; the test says so when it cannot mount)."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Cli

LEFTOVERS = (".tmp", ".part", ".building")


def _run(*cmd: str) -> subprocess.CompletedProcess:
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    return subprocess.run([*sudo, *cmd], capture_output=True, text=True)


@pytest.fixture
def small_disk(tmp_path: Path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = _run("mount", "-t", "tmpfs", "-o", f"size=16m,uid={os.getuid()}", "tmpfs", str(mount))
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill (run as root or with sudo): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        _run("umount", "-l", str(mount))


def _fill(disk: Path) -> Path:
    """Write zeros until the disk refuses one more byte; return the filler (delete it to free)."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as out:
        for block in (1 << 16, 1 << 12, 1):
            try:
                while True:
                    out.write(b"\0" * block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    return filler


def _leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.name.endswith(LEFTOVERS) or p.name.startswith((".moving-", ".extracting-")))


def test_commands_on_a_full_disk_print_a_coded_json_error(small_disk: Path, cli_factory, tmp_path: Path) -> None:
    from ingest.sample import write_sample_batch

    home = small_disk / "home"
    cli: Cli = cli_factory(home)  # keys and catalog made while there is room
    cli("principals", "add", "before", "--kind", "service")
    batch = write_sample_batch(tmp_path / "sample")
    _fill(small_disk)

    keys = {"JUANZONG_SIGNING_KEY": str(small_disk / "k2" / "key.pem"),
            "JUANZONG_SIGNING_CERT": str(small_disk / "k2" / "cert.pem")}
    second_keys = Cli(home, cli.env["PREFECT_API_URL"], **keys)
    for command, runner in ((("keys", "init"), second_keys), (("principals", "add", "after", "--kind", "service"), cli),
                            (("ingest", str(batch)), cli)):
        code, out = runner(*command, expect=None)
        assert code != 0 and out["error"]["code"] == "E166", (command, out)
        assert out["error"]["path"] and "Traceback" not in out["error"]["message"], out
    assert not (small_disk / "k2" / "key.pem").exists() and not (small_disk / "k2" / "cert.pem").exists()
    assert _leftovers(small_disk) == []
    assert not (home / "storage").exists() or not any((home / "storage").rglob("inventory.json"))

    (small_disk / "filler").unlink()
    _, listed = cli("changes", "list")  # the catalog is whole and still opens
    assert listed == {"changes": []}
    second_keys("keys", "init")
    assert (small_disk / "k2" / "key.pem").is_file() and (small_disk / "k2" / "cert.pem").is_file()
