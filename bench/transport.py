"""The client's CPU per tracker request: ``HttpApi`` (the session, its adapter, the error mapping)
against a small JSON server on loopback in another process, so only the client is timed.

    .venv/bin/python bench/transport.py [--requests 3000] [--rounds 5]

Prints the CPU time of this process per request (``time.process_time``), the best and the
median of the rounds, for a GET and for a POST with a JSON body. No rate limiter, no retries:
what every tracker request pays whatever else it does.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from service.trackers.http.api import HttpApi, response_message
from service.trackers.http.retry import NO_RETRY


class _Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the trackers answer

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps({"id": 1, "title": "Checkout returns 502", "labels": ["incident"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


def _serve(ports: Any) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    ports.put(server.server_address[1])
    server.serve_forever()


def _round(api: HttpApi, method: str, count: int) -> float:
    body = {"body": "a lesson"} if method == "POST" else None
    started = time.process_time()
    for _ in range(count):
        api.json("bench", method, "/repos/acme/web/issues/1", json=body)
    return (time.process_time() - started) / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    ports: Any = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(ports,), daemon=True)
    server.start()
    try:
        base = f"http://127.0.0.1:{ports.get(timeout=10)}"
        api = HttpApi(
            "github",
            base,
            {"Authorization": "Bearer t", "User-Agent": "lessonloop"},
            lambda r: response_message(r, str),
            NO_RETRY,
        )
        _round(api, "GET", 100)  # warm the pool and the caches
        for method in ("GET", "POST"):
            times = [_round(api, method, args.requests) for _ in range(args.rounds)]
            print(
                f"{method:4} client CPU per request: best {min(times):.3f} ms, median {statistics.median(times):.3f} ms "
                f"({args.rounds} rounds of {args.requests})"
            )
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
