"""Ingest benchmark: signed GitHub deliveries through the real ``lessonloop web`` process,
against ``GET /healthz`` of the same server, at several connection counts, on SQLite and on
PostgreSQL.

    .venv/bin/python bench/ingest.py [--seconds 6] [--rounds 3] [--connections 2 8 32] [--processes N] [--threads 1]
                                     [--postgres-url URL] [--no-postgres] [--before PYTHON]

For each store it starts ``lessonloop web --port 0`` (the command as shipped: granian, the
settings it loaded), then for each connection count measures, closed loop (each keep-alive
connection sends its next request when the answer to the last one is in):

- ``/healthz``: the server's floor (HTTP parsing, Flask routing, a JSON answer);
- ``/webhooks/github``: each delivery with its own delivery id, so each one is verified,
  parsed, recorded and queued (no duplicate short-cut).

The connection counts are taken in turn, ``--rounds`` times (2, 8, 32, then 32, 8, 2, ...), so
the machine's drift over minutes falls on every count alike. With ``--before PYTHON`` (the
interpreter of a virtualenv where ``service`` is older code, e.g. a worktree of another commit)
a second server runs that code beside this one, and every cell is measured on both, one right
after the other, in alternating order: the two columns share the machine's drift. It prints req/s over the rounds and
in each, p50 and p99 latency, the ingest/healthz throughput ratio, and the server's CPU time per
request. No worker runs,
so the queue only grows; Redis database 14 is emptied before and after. The load generator
runs on the same machine as the server, so the figures are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.web_process import start_web  # noqa: E402
from tests.payloads import github as signed_github  # noqa: E402
from tests.payloads import raw  # noqa: E402

SECRET = "bench-secret"
REDIS_URL = "redis://127.0.0.1:6379/14"
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def start_server(
    database_url: str, processes: int, threads: int, python: str = sys.executable
) -> tuple[subprocess.Popen[bytes], int]:
    """``lessonloop web`` on ``database_url`` with ``processes`` and ``threads``, run by ``python``."""
    settings = {
        "LESSONLOOP_GITHUB_WEBHOOK_SECRET": SECRET,
        "REDIS_URL": REDIS_URL,
        "DATABASE_URL": database_url,
        "LESSONLOOP_LOG_LEVEL": "warning",
        "LESSONLOOP_LOG_FORMAT": "json",
    }
    return start_web(settings, "--processes", str(processes), "--threads", str(threads), python=python)


PLACEHOLDER = b"0" * 32
"""In each delivery's issue body, replaced by a fresh hex id: lessonloop treats a body it has
seen before as a duplicate whatever its delivery id says, so every request carries a new one."""


def _request_head(path: str) -> tuple[bytes, bytes]:
    """What one connection sends for ``path``: a head prefix (each request adds its own delivery
    id and signature) and a body template holding :data:`PLACEHOLDER`."""
    if path == "/healthz":
        return b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n", b""
    payload = json.loads(raw("github/issues.closed"))
    payload["issue"]["body"] = f"Deploy 14:05. ({PLACEHOLDER.decode()})"
    body = json.dumps(payload).encode()
    headers = signed_github(body, SECRET).headers
    skip = {"X-GitHub-Delivery", "X-Hub-Signature-256"}
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items() if name not in skip)
    return f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n{head}".encode(), body


def _unique(prefix: bytes, template: bytes) -> bytes:
    """One request: a new delivery id, a body no other request had, and its signature."""
    if not template:
        return prefix + b"\r\n"
    fresh = uuid.uuid4().hex
    body = template.replace(PLACEHOLDER, fresh.encode())
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    head = f"X-GitHub-Delivery: {fresh}\r\nX-Hub-Signature-256: sha256={signature}\r\n\r\n"
    return prefix + head.encode() + body


def _client(port: int, path: str, seconds: float, results: multiprocessing.Queue, connections: int) -> None:
    """One process of the load generator: ``connections`` keep-alive connections driven by one
    asyncio loop (threads would add the GIL's switch interval to every latency)."""
    prefix, body = _request_head(path)
    expected = b" 200 " if path == "/healthz" else b" 202 "

    async def one_connection(start_at: float) -> tuple[list[float], int]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        loop = asyncio.get_running_loop()
        latencies: list[float] = []
        errors = 0
        await asyncio.sleep(max(0.0, start_at - loop.time()))
        while loop.time() - start_at < seconds:
            sent = loop.time()
            writer.write(_unique(prefix, body))
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(loop.time() - sent)
            errors += expected not in status_line
        writer.close()
        return latencies, errors

    async def run() -> tuple[list[float], int]:
        start_at = asyncio.get_running_loop().time() + 0.2
        outcomes = await asyncio.gather(*(one_connection(start_at) for _ in range(connections)))
        return [value for got, _ in outcomes for value in got], sum(failed for _, failed in outcomes)

    results.put(asyncio.run(run()))


def load(port: int, path: str, seconds: float, connections: int) -> tuple[list[float], int]:
    """Every answer's latency, and how many were not the expected status."""
    processes = max(1, min(connections, 2))
    results: multiprocessing.Queue = multiprocessing.Queue()
    shares = [connections // processes + (1 if n < connections % processes else 0) for n in range(processes)]
    clients = [multiprocessing.Process(target=_client, args=(port, path, seconds, results, share)) for share in shares]
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
    return latencies, errors


@dataclass
class Sample:
    """One measurement of one path at one connection count."""

    latencies: list[float]
    errors: int
    seconds: float
    server_cpu: float

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.seconds


def rate(samples: list[Sample]) -> float:
    return sum(len(sample.latencies) for sample in samples) / sum(sample.seconds for sample in samples)


def summary(samples: list[Sample]) -> dict[str, object]:
    """The rounds of one cell taken together, and each round's rate (how much they move)."""
    latencies = sorted(value for sample in samples for value in sample.latencies)
    count = len(latencies)
    return {
        "requests": count,
        "errors": sum(sample.errors for sample in samples),
        "per_second": rate(samples),
        "per_round": [round(sample.per_second, 1) for sample in samples],
        "p50_ms": 1000 * latencies[count // 2] if count else float("nan"),
        "p99_ms": 1000 * latencies[min(count - 1, int(count * 0.99))] if count else float("nan"),
        "server_cpu_ms_per_request": 1000 * sum(sample.server_cpu for sample in samples) / count
        if count
        else float("nan"),
    }


def cpu_seconds(group: int) -> float:
    """User + system CPU time so far of every process in process group ``group`` (Linux): the
    server's own cost, all its web processes, which other load on a shared machine moves much
    less than it moves throughput."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        if int(fields[2]) == group:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def measured(pid: int, port: int, path: str, seconds: float, connections: int) -> Sample:
    before = cpu_seconds(pid)
    latencies, errors = load(port, path, seconds, connections)
    return Sample(latencies, errors, seconds, cpu_seconds(pid) - before)


def bench_store(
    database_url: str,
    seconds: float,
    levels: list[int],
    processes: int,
    threads: int,
    rounds: int,
    codes: dict[str, str],
) -> list[dict[str, object]]:
    """Each connection count, ``rounds`` times, in turn (2, 8, 32, then 32, 8, 2, ...), on each
    server in ``codes`` (name → its Python), those in alternating order: this machine's speed
    drifts by a third over minutes, and measuring the counts one after another once each put
    that drift between them."""
    servers = {
        code: start_server(
            f"{database_url}-{code}" if database_url.startswith("sqlite") else database_url, processes, threads, python
        )
        for code, python in codes.items()
    }
    paths = ("/healthz", "/webhooks/github")
    samples: dict[tuple[str, int, str], list[Sample]] = {
        (code, level, path): [] for code in codes for level in levels for path in paths
    }
    try:
        for _, port in servers.values():
            load(port, "/healthz", 1.0, 4)  # warm up both paths
            load(port, "/webhooks/github", 1.0, 4)
        for turn in range(rounds):
            order = list(servers) if turn % 2 == 0 else list(reversed(servers))
            for connections in levels if turn % 2 == 0 else reversed(levels):
                for path in paths:
                    for code in order:
                        server, port = servers[code]
                        samples[code, connections, path].append(
                            measured(server.pid, port, path, seconds / rounds, connections)
                        )
    finally:
        for server, _ in servers.values():
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    rows: list[dict[str, object]] = []
    for code in codes:
        for connections in levels:
            health, ingest = samples[code, connections, paths[0]], samples[code, connections, paths[1]]
            ratio = rate(ingest) / rate(health)
            rows.append(
                {
                    "code": code,
                    "connections": connections,
                    "healthz": summary(health),
                    "ingest": summary(ingest),
                    "ratio": ratio,
                }
            )
    return rows


def _fresh_postgres_schema(url: str) -> str:
    """A schema of its own in ``url``'s database, so the bench starts from an empty store."""
    from sqlalchemy import create_engine, text

    from service.store.engine import sqlalchemy_url

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    engine = create_engine(sqlalchemy_url(url))
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return schema


def _drop_postgres_schema(url: str, schema: str) -> None:
    from sqlalchemy import create_engine, text

    from service.store.engine import sqlalchemy_url

    engine = create_engine(sqlalchemy_url(url))
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--seconds", type=float, default=6.0, help="seconds per path and connection count, over all rounds (default 6)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="turns over the connection counts (default 3)")
    parser.add_argument("--connections", type=int, nargs="+", default=[2, 8, 32])
    parser.add_argument("--processes", type=int, default=0, help="lessonloop web --processes (default: its own)")
    parser.add_argument("--threads", type=int, default=1, help="lessonloop web --threads (default 1)")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument(
        "--before", metavar="PYTHON", help="also measure the code this interpreter imports, alternately"
    )
    args = parser.parse_args()
    codes = {"after": sys.executable} | ({"before": args.before} if args.before else {})

    from redis import Redis

    redis = Redis.from_url(REDIS_URL)
    redis.flushdb()
    results: dict[str, list[dict[str, object]]] = {}
    try:
        folder = tempfile.mkdtemp(prefix="lessonloop-bench-")
        results["sqlite"] = bench_store(
            f"sqlite:///{folder}/bench.db",
            args.seconds,
            args.connections,
            args.processes,
            args.threads,
            args.rounds,
            codes,
        )
        redis.flushdb()
        if not args.no_postgres:
            schema = _fresh_postgres_schema(args.postgres_url)
            separator = "&" if "?" in args.postgres_url else "?"
            try:
                results["postgresql"] = bench_store(
                    f"{args.postgres_url}{separator}options=-csearch_path%3D{schema}",
                    args.seconds,
                    args.connections,
                    args.processes,
                    args.threads,
                    args.rounds,
                    codes,
                )
            finally:
                _drop_postgres_schema(args.postgres_url, schema)
    finally:
        redis.flushdb()

    print(
        f"lessonloop web --processes {args.processes or '(its default)'} --threads {args.threads}, "
        f"{args.seconds:.0f} s per cell in {args.rounds} rounds, {os.cpu_count()} cores shared with the load generator"
    )
    print(
        f"{'code':>6} {'store':>10} {'conns':>5}  {'healthz req/s':>13} {'p50':>7} {'p99':>7}  "
        f"{'ingest req/s':>12} {'p50':>7} {'p99':>7} {'errors':>6}  ratio  server CPU ms/req (healthz, ingest)  ingest each round"
    )
    for store, rows in results.items():
        for row in rows:
            health, ingest = row["healthz"], row["ingest"]
            assert isinstance(health, dict) and isinstance(ingest, dict)
            print(
                f"{row['code']:>6} {store:>10} {row['connections']:>5}  {health['per_second']:13.0f} {health['p50_ms']:6.1f}ms "
                f"{health['p99_ms']:6.1f}ms  {ingest['per_second']:12.0f} {ingest['p50_ms']:6.1f}ms "
                f"{ingest['p99_ms']:6.1f}ms {ingest['errors'] + health['errors']:>6}  {row['ratio']:.2f}   "
                f"{health['server_cpu_ms_per_request']:.2f}, {ingest['server_cpu_ms_per_request']:.2f}      "
                + " / ".join(f"{rate:.0f}" for rate in ingest["per_round"])
            )
    print(json.dumps(results))
    failed = sum(
        int(figures["errors"])
        for rows in results.values()
        for row in rows
        for figures in (row["healthz"], row["ingest"])
        if isinstance(figures, dict)
    )
    if failed:
        raise SystemExit(f"bench: {failed} answers were not 200/202: these figures are not ingest's")


if __name__ == "__main__":
    main()
