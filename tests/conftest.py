"""Fixtures shared by the whole suite: the shared corpus, an archive home, the CLI, Prefect."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared").resolve()
BIN = Path(sys.executable).parent

_prefect_home = tempfile.mkdtemp(prefix="juanzong-prefect-")
os.environ.setdefault("PREFECT_HOME", _prefect_home)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# Flows run in-process start Prefect's API; on a busy 2-core CI machine it can take far longer
# than Prefect's default wait, and the test would fail on the clock, not on the code.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "600")
# A CLI command run without PREFECT_API_URL leaves a shared Prefect server and a command runner
# (flows/_prefect_server.py, cli/_runner.py): let them go a minute after the tests' last use.
os.environ.setdefault("JUANZONG_PREFECT_SERVER_IDLE_SECONDS", "60")


def need_shared(*parts: str) -> Path:
    """A file in ../shared, or skip: a user's clone has no ../shared."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: these tests need the shared corpus/reference folder beside the repo")
    return path


def make_corpus(out: Path, *args: str) -> Path:
    """Run the shared corpus generator; return the batch folder (the first one)."""
    script = need_shared("corpus", "make_corpus.py")
    subprocess.run([sys.executable, str(script), str(out), *args], check=True,
                   stdout=subprocess.DEVNULL)
    return sorted(p for p in out.iterdir() if p.is_dir() and p.name != "ground_truth")[0]


def zip_batch(batch: Path) -> bytes:
    """The batch folder as a station uploads it: a zip with the folder at its root."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(batch.rglob("*")):
            zf.write(p, p.relative_to(batch.parent).as_posix())
    return buf.getvalue()


def pg_url() -> str:
    """The test PostgreSQL server's URL, or skip."""
    url = os.environ.get("JUANZONG_TEST_PG_URL")
    if not url:
        pytest.skip("JUANZONG_TEST_PG_URL is not set: start one with scripts/postgres.sh start DIR")
    return url


def fresh_pg_database() -> str:
    """A new, empty database on the test server (a fresh catalog, as a new installation has)."""
    import sqlalchemy as sa

    base = pg_url()
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(url: str) -> None:
    """Drop a database made by ``fresh_pg_database``, closing this process's connections first."""
    import sqlalchemy as sa

    from archive.catalog.db import open_catalog

    if open_catalog.cache_info().currsize:
        open_catalog.cache_clear()  # engines of dropped databases must not be reused
    admin = sa.create_engine(pg_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request, tmp_path) -> str:
    """One catalog per test, on SQLite and on PostgreSQL (a fresh database, dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.sqlite'}"
        return
    url = fresh_pg_database()
    yield url
    drop_pg_database(url)


@pytest.fixture(scope="session")
def prefect_api() -> str:
    """One real Prefect server for the CLI subprocesses of the whole session (each CLI call
    would otherwise start its own ephemeral server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PREFECT_HOME": _prefect_home, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    proc = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                             "--port", str(port), "--no-services"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api"
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("the Prefect server did not start within 120 s")
    yield url
    proc.terminate()
    proc.wait(30)


class Cli:
    """Runs ``juanzong --json`` in a subprocess against one archive home."""

    def __init__(self, home: Path, api: str, **env: str) -> None:
        self.home = home
        self.env = {**os.environ, "JUANZONG_HOME": str(home), "PREFECT_API_URL": api, **env}

    def __call__(self, *args: str, expect: int | None = 0) -> tuple[int, dict]:
        proc = subprocess.run([str(BIN / "juanzong"), *args, "--json"], env=self.env,
                              capture_output=True, text=True, timeout=900)
        if expect is not None and proc.returncode != expect:
            raise AssertionError(f"juanzong {' '.join(args)} exited {proc.returncode}, "
                                 f"expected {expect}\nstdout: {proc.stdout}\nstderr: {proc.stderr[-4000:]}")
        lines = [l for l in proc.stdout.splitlines() if l.strip()]
        assert len(lines) == 1, f"--json must print exactly one line, got: {proc.stdout!r}"
        return proc.returncode, json.loads(lines[0])

    def with_home(self, home: Path) -> Cli:
        clone = Cli(home, self.env["PREFECT_API_URL"])
        clone.env = {**self.env, "JUANZONG_HOME": str(home)}
        return clone


@pytest.fixture(scope="session")
def cli_factory(prefect_api):
    def make(home: Path, **env: str) -> Cli:
        cli = Cli(home, prefect_api, **env)
        cli("keys", "init")
        return cli

    return make


def copy_home(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


class TestTsa:
    """A running RFC 3161 TSA (``scripts/tsa.sh``): its URL and the root its certificate chains to."""

    __test__ = False

    def __init__(self, folder: Path, url: str) -> None:
        self.folder, self.url = folder, url
        self.root = folder / "tsa-root.pem"
        self.cert = folder / "tsa.pem"


def start_tsa(folder: Path, days: int = 3650, name: str = "Juanzong test TSA") -> TestTsa:
    """Start OpenSSL's TSA behind scripts/tsa/server.py; the caller stops it with ``stop_tsa``."""
    env = {**os.environ, "TSA_DAYS": str(days), "TSA_NAME": name}
    url = subprocess.run([str(REPO / "scripts" / "tsa.sh"), "start", str(folder)], env=env, check=True,
                         capture_output=True, text=True).stdout.strip()
    return TestTsa(folder, url)


def stop_tsa(tsa: TestTsa) -> None:
    subprocess.run([str(REPO / "scripts" / "tsa.sh"), "stop", str(tsa.folder)], check=True)


@pytest.fixture(scope="session")
def tsa(tmp_path_factory: pytest.TempPathFactory):
    """One real TSA for the session."""
    running = start_tsa(tmp_path_factory.mktemp("tsa"))
    yield running
    stop_tsa(running)
