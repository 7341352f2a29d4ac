#!/usr/bin/env bash
# Start one real Elasticsearch 8 node (no Docker) on a free loopback port; print its URL.
#
# Usage: start.sh [STATE_DIR]   (default .es/run; stop.sh takes the same STATE_DIR)
# Builds the launcher with Maven on first use (artifacts cached in ~/.m2, build output in the
# repo's ignored .es/build), keeps data in a fresh temp dir, waits for green, writes
# STATE_DIR/es.pid, es.url, es.home and node.log. Env: ES_HEAP (default 1g),
# ES_START_TIMEOUT seconds (default 180), MAVEN_REPO (default ~/.m2/repository).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
state="${1:-$repo/.es/run}"
build="$repo/.es/build"
heap="${ES_HEAP:-1g}"
timeout="${ES_START_TIMEOUT:-180}"
mkdir -p "$state"

if [[ -f "$state/es.pid" ]] && kill -0 "$(cat "$state/es.pid")" 2>/dev/null; then
    echo "start.sh: a node is already running (pid $(cat "$state/es.pid"), $(cat "$state/es.url")); run stop.sh first" >&2
    exit 1
fi

needs_build() {
    [[ ! -f "$build/es-launcher-1.jar" || ! -d "$build/lib" ]] && return 0
    [[ -n "$(find "$here/pom.xml" "$here/src" -newer "$build/es-launcher-1.jar" -type f | head -1)" ]]
}
if needs_build; then
    echo "start.sh: building the launcher with Maven (first run downloads ~70 MB)" >&2
    rm -rf "$build"
    mvn -q -B -f "$here/pom.xml" package -DskipTests \
        -Dmaven.repo.local="${MAVEN_REPO:-$HOME/.m2/repository}" >&2
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
http_port="$(free_port)"
transport_port="$(free_port)"
while [[ "$transport_port" == "$http_port" ]]; do transport_port="$(free_port)"; done

home="$(mktemp -d "${TMPDIR:-/tmp}/juanzong-es.XXXXXX")"
classpath="$build/es-launcher-1.jar:$build/lib/*"
run_as=()
if [[ "$(id -u)" == 0 ]]; then
    # Elasticsearch refuses to run as root: drop to nobody, with a copy of the jars it can read.
    cp -r "$build/lib" "$build/es-launcher-1.jar" "$home/"
    classpath="$home/es-launcher-1.jar:$home/lib/*"
    chown -R nobody:nogroup "$home"
    run_as=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
fi

url="http://127.0.0.1:$http_port"
log="$state/node.log"
( cd "$home" && exec nohup "${run_as[@]}" java -Xms"$heap" -Xmx"$heap" -XX:+UseSerialGC \
    -Djava.io.tmpdir="$home" -cp "$classpath" \
    org.elasticsearch.node.ClasspathNode "$home/node" "$http_port" "$transport_port" \
    >"$log" 2>&1 ) &
pid=$!
echo "$pid" >"$state/es.pid"
echo "$url" >"$state/es.url"
echo "$home" >"$state/es.home"

for _ in $(seq "$timeout"); do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "start.sh: the node exited during start-up; last lines of $log:" >&2
        tail -n 30 "$log" >&2
        rm -f "$state/es.pid"
        exit 1
    fi
    if curl -fsS "$url/_cluster/health?wait_for_status=green&timeout=1s" 2>/dev/null | grep -q '"status":"green"'; then
        echo "$url"
        exit 0
    fi
    sleep 1
done
echo "start.sh: the node at $url was not green after ${timeout}s; see $log" >&2
exit 1
