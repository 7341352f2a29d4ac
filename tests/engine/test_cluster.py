"""The archive on the distributed engine, as an operator runs it: ``scripts/cluster.sh up`` (a
PostgreSQL-backed Prefect server, the deployments, two process workers, PostgreSQL catalog,
Elasticsearch index), batches through the HTTP API and the CLI at once, and a worker killed
mid-batch.

Cost: about 4–7 minutes on a 2-core machine (cluster start ~1.5 min; seven 2-page batches).
The shared test PostgreSQL and Elasticsearch are reused when ``JUANZONG_TEST_PG_URL`` /
``JUANZONG_TEST_ES_URL`` are set (fresh databases and index prefix); otherwise cluster.sh
starts its own. ``JUANZONG_TEST_CLUSTER=DIR`` runs the tests on a cluster already up there.
"""

from __future__ import annotations

import json
import re
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from flows.aip_queries import show_aip, verify_aip
from tests.conftest import BIN, REPO, need_shared, zip_batch

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]

DEADLINE = 900  # seconds: generous, the CI machine is busy; every wait is on a state, never a sleep
BATCHES = 7  # six at once, one for the kill


@dataclass
class Cluster:
    dir: Path
    env: dict[str, str]
    batches: list[Path]

    def cli(self, *args: str, check: bool = True) -> dict:
        proc = subprocess.run([str(BIN / "juanzong"), *args, "--json"], env=self.env, capture_output=True,
                              text=True, timeout=DEADLINE)
        assert not check or proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([str(BIN / "juanzong"), *args], env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)


def _env_file(path: Path) -> dict[str, str]:
    pairs = [line.removeprefix("export ").split("=", 1) for line in path.read_text().splitlines()
             if line.startswith("export ")]
    return dict(pairs)


def _make_batches(out: Path) -> list[Path]:
    script = need_shared("corpus", "make_corpus.py")
    procs = [subprocess.Popen([sys.executable, str(script), str(out / f"s{seed}"), "--pages-total", "2",
                               "--seed", str(100 + seed), "--jobs", "1"], stdout=subprocess.DEVNULL)
             for seed in range(BATCHES)]
    assert all(p.wait(600) == 0 for p in procs)
    return [next(p for p in (out / f"s{seed}").iterdir() if p.is_dir() and p.name != "ground_truth")
            for seed in range(BATCHES)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Cluster:
    where = tmp_path_factory.mktemp("cluster")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "JUANZONG_"))}
    env |= {"CLUSTER_WORKER_LIMIT": "2", "PATH": f"{BIN}:{os.environ['PATH']}"}
    if os.environ.get("JUANZONG_TEST_PG_URL"):
        env["CLUSTER_PG_URL"] = os.environ["JUANZONG_TEST_PG_URL"]
    if os.environ.get("JUANZONG_TEST_ES_URL"):
        env["CLUSTER_ES_URL"] = os.environ["JUANZONG_TEST_ES_URL"]
    batches = _make_batches(tmp_path_factory.mktemp("batches"))
    if os.environ.get("JUANZONG_TEST_CLUSTER"):  # a cluster already up (cluster.sh up DIR): reuse it
        given = Path(os.environ["JUANZONG_TEST_CLUSTER"])
        yield Cluster(dir=given, env=env | _env_file(given / "env"), batches=batches)
        return
    up = subprocess.run([str(REPO / "scripts" / "cluster.sh"), "up", str(where / "c"), "2"], env=env,
                        capture_output=True, text=True, timeout=DEADLINE)
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        yield Cluster(dir=where / "c", env=env | _env_file(where / "c" / "env"), batches=batches)
    finally:
        subprocess.run([str(REPO / "scripts" / "cluster.sh"), "down", str(where / "c")], env=env,
                       timeout=300)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, what: str, deadline: float = DEADLINE):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    pytest.fail(f"not within {deadline} s: {what}")


def _ingest_runs(env: dict[str, str]) -> list:
    """Every flow run of the ingest-batch deployment, as the Prefect server records it."""
    script = ("import json; from prefect.client.orchestration import get_client\n"
              "from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId\n"
              "with get_client(sync_client=True) as c:\n"
              "    d = c.read_deployment_by_name('ingest-batch/ingest-batch')\n"
              "    runs = c.read_flow_runs(flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[d.id])))\n"
              "    print(json.dumps([{'id': str(r.id), 'state': r.state_type.value, 'tags': r.tags,\n"
              "                       'worker': r.labels.get('prefect.worker.name'),\n"
              "                       'batch': r.parameters.get('batch_dir')} for r in runs]))\n")
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def _serve(cluster: Cluster) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    log = open(cluster.dir / "api.log", "a")  # a file, not a pipe nobody reads while the API runs
    proc = subprocess.Popen([str(BIN / "juanzong"), "serve", "--port", str(port)], env=cluster.env,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(url + "/health", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    _wait(lambda: up() or proc.poll() is not None, "the HTTP API answers", 300)
    assert proc.poll() is None, (cluster.dir / "api.log").read_text()[-3000:]
    return proc, url


def _station_keys(cluster: Cluster, batches: list[Path]) -> list[str]:
    """Each batch's station key, its manifest signed by the station (registered once, with its
    certificate, at its first batch: the station API takes no unsigned manifest)."""
    from archive.signing import ensure_dev_keys
    from ingest.station_signature import sign_manifest

    keys = []
    for batch in batches:
        station = json.loads((batch / "manifest.json").read_text("utf-8"))["station_id"]
        folder = cluster.dir / "stations"
        key, cert, api_key = folder / f"{station}.key", folder / f"{station}.pem", folder / f"{station}.api-key"
        if not api_key.exists():
            ensure_dev_keys(key, cert, common_name=f"scanning station {station}")
            api_key.write_text(cluster.cli("stations", "add", station, "--cert", str(cert))["api_key"])
        sign_manifest(batch, key, cert)
        keys.append(api_key.read_text())
    return keys


def _settings(cluster: Cluster):
    from config.settings import load_settings

    env = cluster.env
    return load_settings(home=env["JUANZONG_HOME"], catalog_url=env["JUANZONG_CATALOG_URL"],
                         index_backend="elasticsearch", es_url=env["JUANZONG_ES_URL"],
                         es_index_prefix=env["JUANZONG_ES_INDEX_PREFIX"])


def _is_found(settings, text: str, case_number: str, source_path: str, page: int) -> bool:
    """A run of the page's own text finds the page in the index (as an archivist)."""
    from dissemination.search_access import search_as

    runs = re.findall(r"[\u4e00-\u9fff]{4,}", text)
    probe = runs[len(runs) // 2][:4]
    hits = search_as(settings, probe, None, case=case_number, size=50).hits
    return any((h.source_path, h.page) == (source_path, page) for h in hits)


def _pages(cluster: Cluster, aip_id: str) -> list[dict]:
    return [p for d in show_aip(_settings(cluster), aip_id)["documents"] for p in d["pages"]]


def test_six_batches_through_api_and_cli_are_archived_by_both_workers(cluster: Cluster) -> None:
    api, url = _serve(cluster)
    try:
        via_api, via_cli = cluster.batches[:3], cluster.batches[3:6]
        keys = _station_keys(cluster, via_api + via_cli)[:len(via_api)]  # a signing station signs every batch
        clis = [cluster.popen("ingest", str(b), "--json") for b in via_cli]
        for batch, key in zip(via_api, keys):
            r = httpx.post(url + "/batches", content=zip_batch(batch), timeout=120,
                           headers={"X-API-Key": key, "Content-Type": "application/zip"})
            assert r.status_code == 202, r.text
        outcomes = []
        for proc in clis:
            out, err = proc.communicate(timeout=DEADLINE)
            assert proc.returncode == 0, (out[-3000:], err[-3000:])
            outcomes.append(json.loads(out.strip().splitlines()[-1]))
        for batch, key in zip(via_api, keys):
            def settled(batch=batch, key=key):
                body = httpx.get(f"{url}/batches/{batch.name}", headers={"X-API-Key": key}, timeout=30).json()
                return body if body["status"] not in ("queued", "processing", "uploading") else None

            outcomes.append(_wait(settled, f"{batch.name} settled through the API"))
    finally:
        api.send_signal(signal.SIGTERM)
        api.wait(60)

    assert [o["status"] for o in outcomes] == ["archived"] * 6, outcomes
    runs = [r for r in _ingest_runs(cluster.env) if r["state"] == "COMPLETED"]
    assert {Path(r["batch"]).name for r in runs} >= {b.name for b in cluster.batches[:6]}
    assert {r["worker"] for r in runs} == {"worker-1", "worker-2"}, runs

    aips = {a["aip_id"] for o in outcomes for a in o["aips"]}
    settings = _settings(cluster)
    for aip_id in aips:
        shown = show_aip(settings, aip_id)
        for doc in shown["documents"]:
            for page in doc["pages"]:
                assert page["text"].strip(), (aip_id, doc["source_path"], page)
                assert _is_found(settings, page["text"], shown["case_number"], doc["source_path"],
                                 page["page"]), (aip_id, doc["source_path"], page["page"])
    validate = subprocess.run([str(BIN / "ocfl-validate.py"), str(Path(cluster.env["JUANZONG_HOME"]) / "storage")],
                              capture_output=True, text=True, timeout=600)
    assert validate.returncode == 0, validate.stdout[-2000:] + validate.stderr[-2000:]
    audit = cluster.cli("audit", "--full")
    assert audit["failures"] == [] and audit["checked"] >= len(aips)
    assert cluster.cli("log", "verify")["ok"]
    status = cluster.cli("status")
    assert {w["name"] for w in status["workers"]} == {"worker-1", "worker-2"}
    assert status["batches"]["archived"] >= 6 and status["audit"]["last_findings"] == []


def _kill_tree(pid: int) -> None:
    """SIGKILL a worker and everything it started, as when its machine dies."""
    victims = [pid, *_all_descendants(pid)]
    for victim in victims:
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _all_descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def test_a_worker_killed_mid_batch_crashes_its_run_and_the_other_worker_archives_the_batch(
        cluster: Cluster) -> None:
    batch = cluster.batches[6]
    _station_keys(cluster, [batch])
    proc = cluster.popen("ingest", str(batch), "--json")

    def running():
        runs = [r for r in _ingest_runs(cluster.env) if Path(r["batch"]).name == batch.name]
        return next((r for r in runs if r["state"] == "RUNNING" and r["worker"]), None)

    first = _wait(running, f"a worker runs {batch.name}")
    killed = first["worker"]
    _kill_tree(int((cluster.dir / f"{killed}.pid").read_text()))

    out, err = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0, err[-3000:]
    outcome = json.loads(out.strip().splitlines()[-1])
    assert outcome["status"] == "archived" and [a["version"] for a in outcome["aips"]] == [1]

    runs = {r["id"]: r for r in _ingest_runs(cluster.env) if Path(r["batch"]).name == batch.name}
    assert runs[first["id"]]["state"] == "CRASHED"
    done = [r for r in runs.values() if r["state"] == "COMPLETED"]
    assert len(done) == 1 and done[0]["worker"] != killed, runs
    aip_id = outcome["aips"][0]["aip_id"]
    assert verify_aip(_settings(cluster), aip_id)["valid"]
    assert all(p["text"].strip() for p in _pages(cluster, aip_id))
    leftovers = Path(cluster.env["JUANZONG_HOME"]) / "intake" / "ready"
    assert not leftovers.exists() or not any(leftovers.iterdir())
