#!/usr/bin/env bash
# Stop the node started by start.sh (SIGTERM, then SIGKILL after 30 s) and delete its data dir.
# Usage: stop.sh [STATE_DIR]   (the one given to start.sh; default .es/run)
set -euo pipefail

state="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.es/run}"
if [[ ! -f "$state/es.pid" ]]; then
    echo "stop.sh: no $state/es.pid; nothing to stop" >&2
    exit 0
fi
pid="$(cat "$state/es.pid")"
if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    if kill -0 "$pid" 2>/dev/null; then
        echo "stop.sh: pid $pid ignored SIGTERM for 30 s; killing it" >&2
        kill -KILL "$pid"
    fi
fi
if [[ -f "$state/es.home" ]]; then
    home="$(cat "$state/es.home")"
    [[ "$home" == */juanzong-es.* ]] && rm -rf "$home"
fi
rm -f "$state/es.pid" "$state/es.url" "$state/es.home"
