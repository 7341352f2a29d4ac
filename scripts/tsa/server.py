"""The test TSA's HTTP endpoint (RFC 3161 over HTTP, section 3.4): POST a TimeStampReq
(application/timestamp-query), get OpenSSL's TimeStampResp (application/timestamp-reply).

Standard library only, loopback only; one request at a time (``openssl ts`` keeps the serial
number in a file). Run by ``scripts/tsa.sh``: ``server.py DIR PORT``.
"""

import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

LOCK = threading.Lock()
MAX_QUERY = 64 * 1024


def make_handler(tsa_dir: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length") or 0)
            if self.headers.get("Content-Type") != "application/timestamp-query" or not 0 < length <= MAX_QUERY:
                self.send_error(400, "expected an application/timestamp-query body")
                return
            reply = self._reply(self.rfile.read(length))
            if reply is None:
                self.send_error(500, "openssl ts -reply failed")
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def _reply(self, query: bytes) -> bytes | None:
            with LOCK, tempfile.TemporaryDirectory() as tmp:
                (Path(tmp) / "q.tsq").write_bytes(query)
                done = subprocess.run(
                    ["openssl", "ts", "-reply", "-config", str(tsa_dir / "openssl-ts.cnf"),
                     "-queryfile", str(Path(tmp) / "q.tsq"), "-out", str(Path(tmp) / "r.tsr")],
                    capture_output=True, check=False)
                sys.stderr.write(done.stderr.decode(errors="replace"))
                return (Path(tmp) / "r.tsr").read_bytes() if done.returncode == 0 else None

    return Handler


def main() -> None:
    tsa_dir, port = Path(sys.argv[1]), int(sys.argv[2])
    ThreadingHTTPServer(("127.0.0.1", port), make_handler(tsa_dir)).serve_forever()


if __name__ == "__main__":
    main()
