#!/usr/bin/env bash
# A local Juanzong cluster in one command: PostgreSQL (catalog and Prefect's database),
# Elasticsearch, a PostgreSQL-backed Prefect server, the deployments and WORKERS process workers.
#
#   scripts/cluster.sh up DIR [WORKERS]   (WORKERS default 2) -> writes DIR/env, DIR/*.pid, DIR/*.log
#   scripts/cluster.sh down DIR           stops everything it started, by PID
#   source DIR/env                        then `juanzong ingest BATCH`, `juanzong serve`, `juanzong status`
#
# Env: CLUSTER_PG_URL / CLUSTER_ES_URL reuse a running PostgreSQL server (fresh databases are
# created in it) / Elasticsearch node (a fresh index prefix) instead of starting one;
# CLUSTER_OCR_SLOTS (default 2), CLUSTER_WORKER_LIMIT flow runs per worker (default 1),
# CLUSTER_PREFECT_PORT (default: a free port), CLUSTER_POLL_SECONDS workers poll the pool (default 2).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cmd="${1:?usage: cluster.sh up DIR [WORKERS] | down DIR}"
dir="${2:?usage: cluster.sh up DIR [WORKERS] | down DIR}"
workers="${3:-2}"
bin="${JUANZONG_BIN:-$repo/.venv/bin}"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_for() {  # wait_for URL SECONDS WHAT
    for _ in $(seq "$2"); do
        curl -fsS "$1" >/dev/null 2>&1 && return 0
        sleep 1
    done
    echo "cluster.sh: $3 did not answer at $1 within $2 s" >&2
    return 1
}

start_bg() {  # start_bg NAME command... : detached (own session), PID in DIR/NAME.pid, log in DIR/NAME.log
    local name="$1"; shift
    setsid "$@" >"$dir/$name.log" 2>&1 < /dev/null &
    echo $! >"$dir/$name.pid"
}

stop_pid() {  # stop_pid NAME : SIGTERM, then SIGKILL after 30 s, to the process and its session
    local file="$dir/$1.pid"
    [[ -f "$file" ]] || return 0
    local pid; pid="$(cat "$file")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
}

pg_database() {  # pg_database SERVER_URL NAME -> the URL of a new database NAME on that server
    local server="$1" name="$2"
    "$bin/python" - "$server" "$name" <<'EOF'
import sys
import psycopg
url, name = sys.argv[1], sys.argv[2]
plain = url.replace("postgresql+psycopg://", "postgresql://")
with psycopg.connect(plain, autocommit=True) as conn:
    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.execute(f'CREATE DATABASE "{name}"')
print(url.rsplit("/", 1)[0] + "/" + name)
EOF
}

up() {
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    local suffix  # the folder's name and a digest of its path: two clusters on one server never share a database
    suffix="$(basename "$dir" | tr -c 'a-zA-Z0-9\n' '_' | tr 'A-Z' 'a-z')_$(printf '%s' "$dir" | sha256sum | cut -c1-8)"
    local pg_server="${CLUSTER_PG_URL:-}"
    if [[ -z "$pg_server" ]]; then
        pg_server="$("$here/postgres.sh" start "$dir/pg")"
        echo "$dir/pg" >"$dir/pg.dir"
    fi
    local catalog prefect_db
    catalog="$(pg_database "$pg_server" "jz_catalog_$suffix")"
    prefect_db="$(pg_database "$pg_server" "jz_prefect_$suffix")"
    local es="${CLUSTER_ES_URL:-}"
    if [[ -z "$es" ]]; then
        es="$("$here/elasticsearch/start.sh" "$dir/es")"
    fi

    local port="${CLUSTER_PREFECT_PORT:-$(free_port)}"
    local api="http://127.0.0.1:$port/api"
    cat >"$dir/env" <<EOF
export PREFECT_API_URL=$api
export JUANZONG_HOME=$dir/home
export JUANZONG_CATALOG_URL=$catalog
export JUANZONG_INDEX_BACKEND=elasticsearch
export JUANZONG_ES_URL=$es
export JUANZONG_ES_INDEX_PREFIX=jz-$suffix
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export DO_NOT_TRACK=1
EOF
    # Prefect's server keeps its state in its own PostgreSQL database (asyncpg driver).
    PREFECT_HOME="$dir/prefect-server" \
    PREFECT_API_DATABASE_CONNECTION_URL="${prefect_db/postgresql+psycopg:/postgresql+asyncpg:}" \
    PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1 PREFECT_UI_ENABLED=false \
        start_bg prefect-server "$bin/prefect" server start --host 127.0.0.1 --port "$port"
    wait_for "$api/health" 240 "the Prefect server"

    # shellcheck disable=SC1091
    source "$dir/env"
    "$bin/juanzong" keys init >/dev/null
    "$bin/juanzong" status >/dev/null   # creates the catalog's tables before any worker starts
    "$bin/juanzong" reindex >/dev/null  # and the search index, so no two workers race to create it
    "$bin/juanzong" deploy --ocr-slots "${CLUSTER_OCR_SLOTS:-2}" >/dev/null
    for n in $(seq "$workers"); do
        PREFECT_HOME="$dir/worker-$n" PREFECT_WORKER_QUERY_SECONDS="${CLUSTER_POLL_SECONDS:-2}" start_bg "worker-$n" \
            "$bin/juanzong" worker --name "worker-$n" --limit "${CLUSTER_WORKER_LIMIT:-1}"
    done
    echo "cluster.sh: up; source $dir/env" >&2
}

down() {
    [[ -d "$dir" ]] || { echo "cluster.sh: no $dir" >&2; return 0; }
    for file in "$dir"/worker-*.pid; do
        [[ -e "$file" ]] && stop_pid "$(basename "$file" .pid)"
    done
    stop_pid prefect-server
    [[ -f "$dir/es/es.pid" ]] && "$here/elasticsearch/stop.sh" "$dir/es"
    if [[ -f "$dir/pg.dir" ]]; then
        "$here/postgres.sh" stop "$(cat "$dir/pg.dir")"
        rm -f "$dir/pg.dir"
    fi
    echo "cluster.sh: down" >&2
}

case "$cmd" in
    up) up ;;
    down) down ;;
    *) echo "usage: cluster.sh up DIR [WORKERS] | down DIR" >&2; exit 2 ;;
esac
