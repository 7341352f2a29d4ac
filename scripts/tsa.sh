#!/usr/bin/env bash
# A real RFC 3161 time-stamping authority for tests and the demo: OpenSSL's `ts -reply` behind a
# small HTTP endpoint on loopback (scripts/tsa/server.py).
#   scripts/tsa.sh start DIR   -> prints http://127.0.0.1:PORT/ ; scripts/tsa.sh stop DIR
# DIR keeps the TSA's root (tsa-root.pem), its certificate (tsa.pem, extendedKeyUsage timeStamping)
# and the server's pid. TSA_DAYS (default 3650) sets the TSA certificate's lifetime in days: tests
# give it a short one to play certificate expiry. A DIR that has certificates keeps them.
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?TSA directory}
here=$(cd "$(dirname "$0")" && pwd)
make_pki() {
  local d=$1 days=${TSA_DAYS:-3650} name=${TSA_NAME:-Juanzong test TSA}
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7300 \
    -subj "/CN=$name root" -keyout "$d/tsa-root.key" -out "$d/tsa-root.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
    -keyout "$d/tsa.key" -out "$d/tsa.csr" 2>/dev/null
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\nextendedKeyUsage=critical,timeStamping\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' >"$d/tsa.ext"
  openssl x509 -req -in "$d/tsa.csr" -CA "$d/tsa-root.pem" -CAkey "$d/tsa-root.key" -CAcreateserial \
    -days "$days" -sha256 -extfile "$d/tsa.ext" -out "$d/tsa.pem" 2>/dev/null
  chmod 600 "$d/tsa.key" "$d/tsa-root.key"
  sed "s|@DIR@|$d|g" "$here/tsa/openssl-ts.cnf" >"$d/openssl-ts.cnf"
  echo 01 >"$d/serial"
}
case "$cmd" in
  start)
    mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
    [ -f "$dir/tsa.pem" ] || make_pki "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    python3 "$here/tsa/server.py" "$dir" "$port" >"$dir/server.log" 2>&1 &
    echo $! >"$dir/pid"
    for _ in $(seq 1 100); do
      if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null; then
        echo "http://127.0.0.1:$port/"; exit 0
      fi
      sleep 0.1
    done
    echo "TSA did not start, see $dir/server.log" >&2; exit 1 ;;
  stop)
    [ -f "$dir/pid" ] && kill "$(cat "$dir/pid")" 2>/dev/null || true
    rm -f "$dir/pid" ;;
esac
