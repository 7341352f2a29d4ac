"""The server path's cost per batch against the in-process path, and throughput with 1 and 2
workers, on a local cluster from ``scripts/cluster.sh``.

    .venv/bin/python benchmarks/engine_overhead.py [--pages 20] [--batches 4] [--batch-pages 5]

Starts a cluster (reusing CLUSTER_PG_URL / CLUSTER_ES_URL when set), then:
1. the same ``--pages`` batch ingested by ``juanzong ingest --json`` in-process (no
   PREFECT_API_URL; same PostgreSQL server and Elasticsearch node, fresh database and index
   prefix) and through the work pool; the overhead is the server path's extra wall time, also
   split into submission-to-start and the flow run's own time (from Prefect);
2. ``--batches`` batches of ``--batch-pages`` pages submitted at once (``--no-wait``) with one
   worker, then as many others with two workers; pages per minute side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO))

from benchmarks._corpus import make_batch  # noqa: E402


def _env_file(path: Path) -> dict[str, str]:
    return dict(line.removeprefix("export ").split("=", 1) for line in path.read_text().splitlines()
                if line.startswith("export "))


def _cli(env: dict, *args: str) -> tuple[float, dict]:
    start = time.perf_counter()
    proc = subprocess.run([str(BIN / "juanzong"), *args, "--json"], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"juanzong {' '.join(args)} failed: {proc.stderr[-2000:]}")
    return elapsed, json.loads(proc.stdout.strip().splitlines()[-1])


def _fresh_database(server_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(server_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + "/" + name


def _runs(env: dict) -> dict[str, dict]:
    """Ingest flow runs by batch folder name: state, worker, start and end times."""
    script = ("import json; from prefect.client.orchestration import get_client\n"
              "from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId\n"
              "with get_client(sync_client=True) as c:\n"
              "    d = c.read_deployment_by_name('ingest-batch/ingest-batch')\n"
              "    rs = c.read_flow_runs(flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[d.id])))\n"
              "    print(json.dumps({r.parameters['batch_dir'].rsplit('/', 1)[-1]: {'state': r.state_type.value,\n"
              "        'worker': r.labels.get('prefect.worker.name'), 'created': r.created.timestamp(),\n"
              "        'start': r.start_time.timestamp() if r.start_time else None,\n"
              "        'end': r.end_time.timestamp() if r.end_time else None} for r in rs}))\n")
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def _overhead(env: dict, batch: Path, tmp: Path) -> None:
    local = {k: v for k, v in env.items() if k != "PREFECT_API_URL"}
    local |= {"JUANZONG_HOME": str(tmp / "inprocess"), "JUANZONG_ES_INDEX_PREFIX": env["JUANZONG_ES_INDEX_PREFIX"] + "-local",
              "JUANZONG_CATALOG_URL": _fresh_database(env["JUANZONG_CATALOG_URL"], "jz_bench_inprocess")}
    subprocess.run([str(BIN / "juanzong"), "keys", "init"], env=local, check=True, stdout=subprocess.DEVNULL)
    inproc, out_local = _cli(local, "ingest", str(batch))
    server, out_server = _cli(env, "ingest", str(batch))
    assert out_local["status"] == out_server["status"] == "archived", (out_local, out_server)
    run = _runs(env)[batch.name]
    queued, flow = run["start"] - run["created"], run["end"] - run["start"]
    print(f"\n1. one {args.pages}-page batch, `juanzong ingest --json` wall time")
    print(f"   in-process                      {inproc:7.1f} s")
    print(f"   server path (work pool)         {server:7.1f} s   (submission to start {queued:.1f} s, "
          f"flow run {flow:.1f} s, by {run['worker']})")
    print(f"   overhead of the server path     {server - inproc:+7.1f} s = {100 * (server - inproc) / inproc:+.1f} % "
          f"of the in-process wall time (goal < 10 %)")
    print(f"   engine time around the flow run {server - flow:7.1f} s = {100 * (server - flow) / server:.1f} % "
          f"of the server path's wall time (CLI start, submission, worker start, polling)")


def _throughput(env: dict, batches: list[Path], pages: int) -> float:
    start = time.perf_counter()
    for b in batches:
        _cli(env, "ingest", str(b), "--no-wait")
    names = {b.name for b in batches}
    while True:
        runs = {k: v for k, v in _runs(env).items() if k in names}
        if len(runs) == len(names) and all(r["state"] in ("COMPLETED", "FAILED", "CRASHED") for r in runs.values()):
            break
        time.sleep(2)
    elapsed = time.perf_counter() - start
    workers = sorted({r["worker"] for r in runs.values()})
    print(f"   {len(batches)} batches, {pages} pages in {elapsed:6.1f} s = {60 * pages / elapsed:5.1f} pages/min "
          f"(workers that ran them: {', '.join(workers)})")
    return elapsed


def _worker(cluster: Path, env: dict, n: int) -> None:
    log = open(cluster / f"worker-{n}.log", "a")
    proc = subprocess.Popen([str(BIN / "juanzong"), "worker", "--name", f"worker-{n}", "--limit", "1"],
                            env=env | {"PREFECT_HOME": str(cluster / f"worker-{n}"), "PREFECT_WORKER_QUERY_SECONDS": "2"}, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    (cluster / f"worker-{n}.pid").write_text(str(proc.pid))


def _is_running(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


def _stop_worker(cluster: Path, n: int) -> None:
    """SIGTERM, then SIGKILL after 30 s (a Prefect worker may linger in its shutdown)."""
    pid = int((cluster / f"worker-{n}.pid").read_text())
    if not _is_running(pid):
        return
    os.kill(pid, 15)
    deadline = time.monotonic() + 30
    while _is_running(pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    if _is_running(pid):
        os.kill(pid, 9)


def main() -> None:
    global args
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--batch-pages", type=int, default=5)
    parser.add_argument("--cluster", type=Path, help="use a cluster already up there (left up)")
    parser.add_argument("--throughput-only", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="juanzong-engine-bench-") as name:
        tmp = Path(name)
        cluster = args.cluster or tmp / "cluster"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "JUANZONG_"))}
        if not args.cluster:
            subprocess.run([str(REPO / "scripts" / "cluster.sh"), "up", str(cluster), "2"], env=base, check=True)
        try:
            env = base | _env_file(cluster / "env")
            sets = [[make_batch(tmp / f"t{k}-{i}", "--pages-total", str(args.batch_pages), "--seed",
                                str(300 + 10 * k + i), "--jobs", "1")[0] for i in range(args.batches)]
                    for k in (1, 2)]
            print(f"cpus={os.cpu_count()}, worker limit 1 flow run each, OCR slots 2")
            if not args.throughput_only:
                _overhead(env, make_batch(tmp / "big", "--pages-total", str(args.pages), "--seed", "71")[0], tmp)
            print("\n2. throughput, batches submitted at once (--no-wait)")
            _stop_worker(cluster, 2)
            one = _throughput(env, sets[0], args.batches * args.batch_pages)
            _worker(cluster, env, 2)
            two = _throughput(env, sets[1], args.batches * args.batch_pages)
            print(f"   1 worker {one:6.1f} s | 2 workers {two:6.1f} s | speed-up {one / two:4.2f}x")
        finally:
            if not args.cluster:
                subprocess.run([str(REPO / "scripts" / "cluster.sh"), "down", str(cluster)], env=base)


if __name__ == "__main__":
    main()
