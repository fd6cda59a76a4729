"""Ingest benchmark: signed GitHub deliveries through the real web server, against a bare
endpoint of the same server that only answers 202, in the same run.

    .venv/bin/python bench/ingest.py [--seconds 10] [--connections 16] [--database-url URL]

It starts ``lessonloop``'s gunicorn server (same options as ``lessonloop web``) with one extra
route, ``POST /bare``, then measures:

1. throughput with ``--connections`` keep-alive connections sending as fast as answers come,
   for the bare route and for ``/webhooks/github`` (each delivery has its own delivery id, so
   each one is verified, parsed, recorded and queued: no duplicate short-cut);
2. latency of ``/webhooks/github`` at half the throughput it reached, paced (open loop: a late
   answer delays no later send, and latency counts from the scheduled send time).

No worker runs, so the queue only grows; Redis database 14 is emptied before and after. The
load generator runs on the same machine as the server, so the figures are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.payloads import github as signed_github  # noqa: E402
from tests.payloads import raw  # noqa: E402

SECRET = "bench-secret"
REDIS_URL = "redis://127.0.0.1:6379/14"

SERVER = """
import sys
sys.path.insert(0, {root!r})
from flask import Response
from service.wsgi import build_app, serve

def loader():
    app = build_app()
    app.add_url_rule("/bare", "bare", lambda: Response(b'{{"status":"queued"}}', 202,
                     content_type="application/json"), methods=["POST"])
    return app

serve("127.0.0.1", {port}, {workers}, {threads}, loader)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(port: int, database_url: str, workers: int, threads: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LESSONLOOP_")}
    env |= {
        "LESSONLOOP_GITHUB_WEBHOOK_SECRET": SECRET,
        "REDIS_URL": REDIS_URL,
        "DATABASE_URL": database_url,
        "LESSONLOOP_LOG_LEVEL": "warning",
        "LESSONLOOP_LOG_FORMAT": "json",
        "LESSONLOOP_CONFIG": "",
    }
    from config.settings import load_settings
    from service.runtime import Runtime
    from service.store import migrate

    migrate.upgrade(Runtime.build(load_settings(env)).engine)  # as `lessonloop web` does first
    code = SERVER.format(root=str(ROOT), port=port, workers=workers, threads=threads)
    process = subprocess.Popen([sys.executable, "-c", code], env=env, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the server did not become ready")


def request_for(path: str) -> tuple[bytes, dict[str, str]]:
    body = raw("github/issues.closed")
    headers = signed_github(body, SECRET).headers
    return body, headers


def _client(port: int, path: str, seconds: float, rate: float | None, results: multiprocessing.Queue,
            connections: int) -> None:
    """One process of the load generator: ``connections`` keep-alive connections driven by one
    asyncio loop (threads would add the GIL's 5 ms switch interval to every latency)."""
    body, headers = request_for(path)
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items() if name != "X-GitHub-Delivery")
    prefix = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n{head}").encode()

    async def one_connection(start_at: float, interval: float, offset: float) -> tuple[list[float], int]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        loop = asyncio.get_running_loop()
        latencies: list[float] = []
        errors = sent = 0
        while True:
            scheduled = start_at + offset + sent * interval if interval else loop.time()
            if scheduled - start_at >= seconds:
                break
            if interval:
                await asyncio.sleep(max(0.0, scheduled - loop.time()))
            writer.write(prefix + f"X-GitHub-Delivery: {uuid.uuid4()}\r\n\r\n".encode() + body)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(loop.time() - scheduled)
            errors += b" 202 " not in status_line
            sent += 1
        writer.close()
        return latencies, errors

    async def run() -> tuple[list[float], int]:
        loop = asyncio.get_running_loop()
        start_at = loop.time() + 0.2
        interval = (connections / rate) if rate else 0.0
        outcomes = await asyncio.gather(*(one_connection(start_at, interval, interval * n / connections)
                                          for n in range(connections)))
        return [value for got, _ in outcomes for value in got], sum(failed for _, failed in outcomes)

    results.put(asyncio.run(run()))


def load(port: int, path: str, seconds: float, connections: int, rate: float | None = None) -> dict[str, float]:
    processes = max(1, min(connections, os.cpu_count() or 1))
    per_process = max(1, connections // processes)
    per_process_rate = None if rate is None else rate / processes
    results: multiprocessing.Queue = multiprocessing.Queue()
    started = time.monotonic()
    clients = [multiprocessing.Process(target=_client, args=(port, path, seconds, per_process_rate, results,
                                                              per_process)) for _ in range(processes)]
    for client in clients:
        client.start()
    latencies: list[float] = []
    errors = 0
    for _ in clients:
        got, failed = results.get()
        latencies.extend(got)
        errors += failed
    for client in clients:
        client.join()
    del started
    latencies.sort()
    count = len(latencies)
    return {
        "requests": count,
        "errors": errors,
        "per_second": count / seconds,
        "p50_ms": 1000 * latencies[count // 2] if count else float("nan"),
        "p99_ms": 1000 * latencies[min(count - 1, int(count * 0.99))] if count else float("nan"),
        "mean_ms": 1000 * statistics.fmean(latencies) if count else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary folder")
    args = parser.parse_args()

    from redis import Redis

    redis = Redis.from_url(REDIS_URL)
    redis.flushdb()
    folder = tempfile.mkdtemp(prefix="lessonloop-bench-")
    database_url = args.database_url or f"sqlite:///{folder}/bench.db"
    port = free_port()
    server = start_server(port, database_url, args.workers, args.threads)
    try:
        load(port, "/bare", 1.0, args.connections)  # warm up both paths
        load(port, "/webhooks/github", 1.0, args.connections)
        bare = load(port, "/bare", args.seconds, args.connections)
        ingest = load(port, "/webhooks/github", args.seconds, args.connections)
        paced = load(port, "/webhooks/github", args.seconds, args.connections, rate=ingest["per_second"] / 2)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        redis.flushdb()

    ratio = ingest["per_second"] / bare["per_second"] if bare["per_second"] else float("nan")
    print(f"store: {database_url.split('://')[0]}, gunicorn {args.workers} workers x {args.threads} threads, "
          f"{args.connections} connections, {args.seconds:.0f} s per phase, {os.cpu_count()} cores shared "
          f"with the load generator")
    for name, figures in (("bare 202", bare), ("ingest (max)", ingest),
                          (f"ingest at {ingest['per_second'] / 2:.0f}/s", paced)):
        print(f"{name:>22}: {figures['per_second']:8.1f} req/s  p50 {figures['p50_ms']:6.2f} ms  "
              f"p99 {figures['p99_ms']:6.2f} ms  errors {figures['errors']}")
    print(f"ingest/bare throughput ratio: {ratio:.2f} (target >= 0.50)")
    print(f"p99 at half the ingest throughput: {paced['p99_ms']:.2f} ms (target < 25 ms)")
    print(json.dumps({"bare": bare, "ingest": ingest, "paced": paced, "ratio": ratio}))


if __name__ == "__main__":
    main()
