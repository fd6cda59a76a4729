"""Review-loop benchmark: N closed incidents through the real web server and real RQ workers,
against the tracker doubles, until every one has its review open.

    .venv/bin/python bench/loop.py [--incidents 1000] [--mix github,jira,pagerduty] [--workers 4] [--no-lessons]
                                   [--threads 1] [--web-processes N] [--senders 4] [--rate R] [--check-every 20]
                                   [--timeout 240] [--database-url URL]

What runs, all on 127.0.0.1:

- the three tracker doubles (``tests/doubles``), in **one child process** of the bench, served by
  waitress (connections kept open, as real trackers do; the doubles' own werkzeug server closes
  each connection after one answer), with no faults and no rate limits (``--vendor-limits``
  keeps them). A child and not threads of the bench: the doubles check requests against the
  vendors' OpenAPI descriptions in pure Python (openapi-core), which holds the GIL for
  milliseconds a request; in the bench process that would delay the senders and their
  timestamps, and it would be hard to tell the doubles' CPU from the bench's. They check the
  first 50 requests of each operation and then one in ``--check-every`` (20; 1 checks every
  request, as the tests do): checking every request cost the doubles more CPU than lessonloop's
  workers spent, and the run measured the doubles. The child reports its own CPU time and,
  separately, the CPU its threads spent checking.
- ``python -m service.entry.cli web --threads T`` (its waitress processes) and K ``python -m service.entry.cli
  worker`` (RQ; each job runs in the worker process itself), as subprocesses with the doubles'
  URLs and credentials, Redis database 12 or ``LESSONLOOP_BENCH_REDIS_URL`` (emptied before and
  after), a temporary SQLite file or ``--database-url`` (PostgreSQL: a schema of its own, created
  and dropped here), and a rules file:
  GitHub incidents -> ``github:acme/postmortems``, Jira and PagerDuty incidents -> ``jira:OPS``.

The doubles are seeded with N closed incidents, taken in turn from the sources in ``--mix``
(GitHub issues labelled ``incident`` in ``acme/web``, Jira ``Incident`` issues in ``SRE``,
resolved high-urgency PagerDuty incidents), all closed "now". One signed delivery per incident is
built from the double's state with ``tests/loop.py`` and sent by ``--senders`` keep-alive
connections, as fast as the web answers (or paced at ``--rate`` a second, open loop); the bench
notes the wall-clock time each one was sent.

Per incident, "review opened" is the ``opened_at`` of its row in the store's ``reviews`` table,
written by the job right after the tracker answered the create (same machine, same clock as the
send stamps, microsecond resolution, and independent of how often the bench polls). The doubles'
logs carry no timestamps, so they could only be timed by polling them. The bench also reports the
time to the job's end (the delivery's ``updated_at`` when it became ``done``: after the "review
opened" comment on the incident). It polls the store twice a second only to know when to stop.

Memory: the peak RSS (``VmHWM`` in ``/proc/PID/status``) of every process, found by walking
``/proc/PID/task/*/children`` from the web's and each worker's process every 20 ms. The web's
figure is its waitress processes and the parent that forked them. A worker's is its main process plus its RQ
scheduler process (one of the workers runs it). Workers that fork a work horse per job (RQ's
forking ``Worker``; lessonloop's workers no longer do) would show horses: the sampler catches
some, and "upper bound" adds the largest once per worker.

CPU: seconds of user+system time per role between the first send and the end (``/proc/PID/stat``;
a worker's includes its reaped horses), to show where the time goes on a small machine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REDIS_URL = os.environ.get("LESSONLOOP_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
"""Emptied before and after a run: give each bench running at the same time a database of its own."""
SOURCES = ("github", "jira", "pagerduty")
INCIDENT_REPO = "acme/web"
REVIEW_REPO = "acme/postmortems"
JIRA_INCIDENT_PROJECT = "SRE"

from service.entry.server import default_count  # noqa: E402

# the rules every test runs with (DESIGN.md's example): github->github, jira->jira, pagerduty->jira
from tests.conftest import RULES_TOML  # noqa: E402

UNLIMITED_TOML = """
[github]
writes_per_minute = 1000000
writes_per_hour = 1000000

[jira]
requests_per_minute = 1000000

[pagerduty]
requests_per_minute = 1000000
"""
"""The loop is measured against instant doubles: the vendors' limits (GitHub's 80 writes a minute
above all) would set the pace instead of lessonloop. ``bench/storm.py`` measures that pace."""

TICK = os.sysconf("SC_CLK_TCK")


# --- the doubles, in a child process ---------------------------------------------------------


FIRST_CHECKED = 50
"""With ``--check-every N``, the first requests of each operation are all checked, then one in N."""


class _TimedSpec:
    """A double's OpenAPI object, with the CPU time of its threads in ``validate_request`` added
    up; with ``every`` above 1, it checks the first :data:`FIRST_CHECKED` requests of each
    operation and then one in ``every`` (checking costs the doubles more CPU than answering)."""

    def __init__(self, spec: Any, every: int = 1) -> None:
        self._spec = spec
        self._lock = threading.Lock()
        self.every = every
        self.seconds = 0.0
        self.calls = 0
        self.skipped = 0
        self._seen: Counter[str] = Counter()

    def validate_request(self, *args: Any, **kwargs: Any) -> Any:
        if self.every > 1:
            from flask import request

            operation = f"{request.method} {request.url_rule.rule if request.url_rule else request.path}"
            with self._lock:
                self._seen[operation] += 1
                skip = self._seen[operation] > FIRST_CHECKED and self._seen[operation] % self.every != 0
                self.skipped += skip
            if skip:
                return None
        started = time.thread_time()
        try:
            return self._spec.validate_request(*args, **kwargs)
        finally:
            spent = time.thread_time() - started
            with self._lock:
                self.seconds += spent
                self.calls += 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._spec, name)


def _serve_keeping_connections(double: Any) -> None:
    """Serve a double's app with waitress instead of its own werkzeug server, which closes the
    connection after every answer (werkzeug always sends ``Connection: close``): each request
    would pay for a new TCP connection and a new server thread, which no real tracker makes a
    client pay. waitress keeps connections open and answers from a pool of threads."""
    import logging

    from waitress.server import create_server

    logging.getLogger("waitress").setLevel(logging.ERROR)  # "task queue depth" warnings under a burst
    server = create_server(double.app, host=double.host, port=0, threads=8, connection_limit=1000)
    double.port = server.effective_port  # one listening socket: one port
    threading.Thread(target=server.run, name=f"{double.name}-double", daemon=True).start()


def _doubles_main(connection: Any, incidents: int, mix: list[str], configure: Any = None, check_every: int = 1) -> None:
    """The child: seed and start the doubles, hand over the deliveries and the settings, then
    answer ``cpu`` and ``report`` until ``stop``. ``configure(doubles)``, when given, runs on the
    seeded doubles before they start (``bench/storm.py`` makes them enforce rate limits)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us; Ctrl-C reaches the group
    from tests import loop
    from tests.doubles.github import GitHubDouble
    from tests.doubles.jira import JiraDouble
    from tests.doubles.pagerduty import PagerDutyDouble

    github, jira, pagerduty = GitHubDouble(), JiraDouble(), PagerDutyDouble()
    doubles = {"github": github, "jira": jira, "pagerduty": pagerduty}
    timers = {}
    for name, double in doubles.items():
        timers[name] = double.spec = _TimedSpec(double.spec, check_every)
    github.add_repo(REVIEW_REPO)
    github.add_repo(INCIDENT_REPO)
    closed = datetime.now(UTC).replace(microsecond=0)
    stamp = closed.isoformat().replace("+00:00", "Z")
    opened = (closed - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    deliveries: list[tuple[str, str, dict[str, str], bytes]] = []  # (incident ref, path, headers, body)
    for n in range(incidents):
        source = mix[n % len(mix)]
        if source == "github":
            issue = github.add_issue(
                INCIDENT_REPO,
                f"Checkout returned 502s ({n})",
                body="Deploy 14:05.",
                labels=("incident",),
                state="closed",
                assignees=("octocat",),
                created_at=opened,
                closed_at=stamp,
            )
            ref = f"github:{INCIDENT_REPO}#{issue['number']}"
            delivery = loop.github_issue_event(github, INCIDENT_REPO, issue["number"], "closed")
        elif source == "jira":
            issue = jira.add_issue(JIRA_INCIDENT_PROJECT, f"Payments queue backed up ({n})", issue_type="Incident")
            ref = f"jira:{issue['key']}"
            delivery = loop.jira_issue_event(jira, issue["key"])
        else:
            incident_id = f"PB{n:05d}"
            pagerduty.add_incident(
                incident_id, f"Checkout latency above SLO ({n})", created_at=opened, resolved_at=stamp
            )
            ref = f"pagerduty:{incident_id}"
            delivery = loop.pagerduty_resolved(pagerduty, incident_id)
        deliveries.append((ref, delivery.path, delivery.headers, delivery.body))
    if configure is not None:
        configure(doubles)
    for double in doubles.values():
        _serve_keeping_connections(double)
    env = {
        "LESSONLOOP_GITHUB_TOKEN": "test-token",
        "LESSONLOOP_GITHUB_API_URL": github.base_url,
        "LESSONLOOP_GITHUB_WEB_URL": github.html_url,
        "LESSONLOOP_JIRA_URL": jira.base_url,
        "LESSONLOOP_JIRA_EMAIL": jira.email,
        "LESSONLOOP_JIRA_API_TOKEN": jira.api_token,
        "LESSONLOOP_PAGERDUTY_API_TOKEN": "user-token",
        "LESSONLOOP_PAGERDUTY_FROM": "lessonloop@example.com",
        "LESSONLOOP_PAGERDUTY_API_URL": pagerduty.base_url,
    }
    connection.send((env, deliveries))
    try:
        while True:
            command = connection.recv()
            if command == "cpu":
                times = os.times()
                connection.send((times.user + times.system, sum(t.seconds for t in timers.values())))
            elif command == "close-followups":
                connection.send(_close_one_followup_each(github, jira, loop))
            elif isinstance(command, tuple) and command[0] == "fill":
                connection.send(_fill_reviews(github, jira, loop, command[1]))
            elif command == "report":
                connection.send(
                    {
                        name: {
                            "counts": dict(double.counts()),
                            "statuses": dict(Counter(str(r.status) for r in double.log)),
                            "violations": list(double.violations[:20]),
                            "violation_count": len(double.violations),
                            "validated": timers[name].calls,
                            "not_checked": timers[name].skipped,
                            "validation_cpu_s": timers[name].seconds,
                            "limits": double.limit_report(),
                        }
                        for name, double in doubles.items()
                    }
                )
            else:
                break
    except EOFError:
        pass
    finally:
        for double in doubles.values():
            double.stop()


FOLLOWUP_TASKS_REPO = "acme/tasks"


def _fill_reviews(github: Any, jira: Any, loop: Any, count: int) -> list[tuple[str, str, dict[str, str], bytes]]:
    """In the child: every review the doubles hold gets a complete lesson whose "What we'll
    change" lists ``count`` follow-ups (the first links an existing issue, adopted; the others
    are opened as tasks; 0: a paragraph, no list), is closed, and yields the delivery its
    tracker would send."""
    from service.text import markers

    out = []
    github.add_repo(FOLLOWUP_TASKS_REPO)
    with github.lock:
        github_reviews = [
            (n, i)
            for n, i in github.issues.get(REVIEW_REPO, {}).items()
            if markers.find_kind(i["body"], markers.REVIEW)
        ]
    with jira.lock:
        jira_reviews = [
            (k, i)
            for k, i in jira.issues.items()
            if markers.find_kind(i["fields"].get("description") or "", markers.REVIEW)
        ]
    for n, (number, review) in enumerate(github_reviews):
        adopt = github.add_issue(FOLLOWUP_TASKS_REPO, f"Canary reads latency only ({n})")
        review["body"] = loop.fill_lesson_markdown(
            review["body"], loop.FILLED_MARKDOWN | {"What we'll change": _changes(adopt["html_url"], n, count, "- ")}
        )
        review["state"], review["state_reason"] = "closed", "completed"
        delivery = loop.github_issue_event(github, REVIEW_REPO, number, "closed")
        out.append((f"github:{REVIEW_REPO}#{number}", delivery.path, delivery.headers, delivery.body))
    for n, (key, review) in enumerate(jira_reviews):
        adopt = github.add_issue(FOLLOWUP_TASKS_REPO, f"Queue depth alert missing ({n})")
        fields = review["fields"]
        fields["description"] = loop.fill_lesson_jira(
            fields["description"],
            loop.FILLED_MARKDOWN | {"What we'll change": _changes(adopt["html_url"], n, count, "* ")},
        )
        fields["status"] = {"name": "Done", "statusCategory": {"key": "done"}}
        delivery = loop.jira_issue_event(jira, key)
        out.append((f"jira:{key}", delivery.path, delivery.headers, delivery.body))
    return out


def _close_one_followup_each(github: Any, jira: Any, loop: Any) -> list[tuple[str, str, dict[str, str], bytes]]:
    """In the child: the first task lessonloop opened for each lesson is done; the deliveries."""
    from service.text import markers

    out, seen = [], set()
    with github.lock:
        tasks = [
            (n, i)
            for n, i in github.issues.get(REVIEW_REPO, {}).items()
            if markers.find_kind(i["body"], markers.FOLLOWUP)
        ]
    for number, task in tasks:
        review = markers.find_kind(task["body"], markers.FOLLOWUP).get("review")
        if review in seen:
            continue
        seen.add(review)
        task.update(state="closed", state_reason="completed", closed_at=task["created_at"])
        delivery = loop.github_issue_event(github, REVIEW_REPO, number, "closed")
        out.append((f"github:{REVIEW_REPO}#{number}", delivery.path, delivery.headers, delivery.body))
    with jira.lock:
        jira_tasks = [
            (k, i)
            for k, i in jira.issues.items()
            if markers.find_kind(i["fields"].get("description") or "", markers.FOLLOWUP)
        ]
    for key, task in jira_tasks:
        review = markers.find_kind(task["fields"]["description"], markers.FOLLOWUP).get("review")
        if review in seen:
            continue
        seen.add(review)
        task["fields"].update(status={"name": "Done", "statusCategory": {"key": "done"}}, resolution={"name": "Done"})
        delivery = loop.jira_issue_event(jira, key)
        out.append((f"jira:{key}", delivery.path, delivery.headers, delivery.body))
    return out


def _changes(adopted_url: str, n: int, count: int, bullet: str) -> str:
    items = [f"Wire the error rate into the canary ({adopted_url})"]
    items += [f"Alert on the 5xx rate of each deploy of service {n}, part {k}" for k in range(1, max(count, 1))]
    if count == 0:
        return items[0] + "."
    return "\n".join(bullet + item for item in items[:count])


class Doubles:
    def __init__(self, incidents: int, mix: list[str], configure: Any = None, check_every: int = 1) -> None:
        context = multiprocessing.get_context("fork")  # before the bench starts any thread
        self.connection, child = context.Pipe()
        self.process = context.Process(
            target=_doubles_main, args=(child, incidents, mix, configure, check_every), daemon=True
        )
        self.process.start()
        child.close()
        if not self.connection.poll(120):
            raise SystemExit("bench: the doubles did not start within 120 s")
        self.env, self.deliveries = self.connection.recv()

    def ask(self, command: str) -> Any:
        self.connection.send(command)
        return self.connection.recv()

    def stop(self) -> None:
        try:
            self.connection.send("stop")
        except OSError:
            pass
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)


# --- /proc: processes, memory, CPU -----------------------------------------------------------


def children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found.extend(int(p) for p in handle.read().split())
    except OSError:
        pass
    return found


def descendants(pid: int) -> list[int]:
    out, todo = [], children(pid)
    while todo:
        child = todo.pop()
        out.append(child)
        todo.extend(children(child))
    return out


def vm_hwm_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid: int, with_children: bool = False) -> float:
    """utime + stime (+ cutime + cstime: children it has waited for) of a live process."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if with_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICK


class Sampler(threading.Thread):
    """Every ``interval`` s, the peak RSS of each root and of all its descendants seen so far."""

    def __init__(self, roots: dict[int, str], interval: float = 0.02) -> None:
        super().__init__(name="memory-sampler", daemon=True)
        self.roots = roots  # pid -> role ("web", "worker")
        self.interval = interval
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.peak: dict[int, int] = {}  # pid -> KiB
        self.owner: dict[int, int] = {}  # pid -> root pid
        self.parent: dict[int, int] = {}  # pid -> parent pid when first seen

    def sample(self) -> None:
        for root in self.roots:
            stack = [(root, 0)]
            while stack:
                pid, parent = stack.pop()
                hwm = vm_hwm_kib(pid)
                if hwm is None:
                    continue
                with self.lock:
                    self.peak[pid] = max(hwm, self.peak.get(pid, 0))
                    self.owner.setdefault(pid, root)
                    self.parent.setdefault(pid, parent)
                stack.extend((child, pid) for child in children(pid))

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            self.sample()

    def alive(self, pid: int) -> bool:
        return os.path.exists(f"/proc/{pid}")

    def report(self) -> dict[str, Any]:
        """Call while the roots still run: a descendant alive now is long-lived (the RQ
        scheduler); one gone since was a work horse."""
        with self.lock:
            peak, owner, parent = dict(self.peak), dict(self.owner), dict(self.parent)
        web = [p for p, r in owner.items() if self.roots[r] == "web" and self.alive(p)]
        worker_roots = [r for r, role in self.roots.items() if role == "worker"]
        long_lived = [p for p, r in owner.items() if self.roots[r] == "worker" and self.alive(p)]
        horses = [
            p
            for p, r in owner.items()
            if self.roots[r] == "worker" and p not in long_lived and parent.get(p) in worker_roots
        ]
        mib = 1024.0
        worker_sum = sum(peak[p] for p in long_lived) / mib
        horse_max = max((peak[p] for p in horses), default=0) / mib
        return {
            "web_mib": sum(peak[p] for p in web) / mib,
            "web_processes": len(web),
            "web_each_mib": sorted(round(peak[p] / mib, 1) for p in web),
            "workers_mib": worker_sum,
            "worker_processes": len(long_lived),
            "worker_each_mib": sorted(round(peak[p] / mib, 1) for p in long_lived),
            "horses_sampled": len(horses),
            "horse_max_mib": horse_max,
            "workers_upper_bound_mib": worker_sum + len(worker_roots) * horse_max,
        }

    def cpu(self) -> dict[str, float]:
        web = worker = 0.0
        for root, role in self.roots.items():
            if role == "web":
                web += cpu_seconds(root) + sum(cpu_seconds(p) for p in descendants(root))
            else:  # main process with its reaped horses, plus the live scheduler
                worker += cpu_seconds(root, with_children=True) + sum(cpu_seconds(p) for p in descendants(root))
        return {"web": web, "workers": worker}


# --- the service -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def service_env(
    doubles_env: dict[str, str], database_url: str, rules: Path, redis_url: str = REDIS_URL
) -> dict[str, str]:
    from tests.conftest import GITHUB_SECRET, JIRA_SECRET, PAGERDUTY_SECRET

    env = {k: v for k, v in os.environ.items() if not k.startswith("LESSONLOOP_")}
    return (
        env
        | doubles_env
        | {
            "LESSONLOOP_GITHUB_WEBHOOK_SECRET": GITHUB_SECRET,
            "LESSONLOOP_JIRA_WEBHOOK_SECRET": JIRA_SECRET,
            "LESSONLOOP_PAGERDUTY_WEBHOOK_SECRET": PAGERDUTY_SECRET,
            "REDIS_URL": redis_url,
            "DATABASE_URL": database_url,
            "LESSONLOOP_CONFIG": str(rules),
            "LESSONLOOP_LOG_LEVEL": "warning",
            "LESSONLOOP_LOG_FORMAT": "json",
        }
    )


def wait_ready(port: int, web: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if web.poll() is not None:
            raise SystemExit(f"bench: the web process exited ({web.returncode}) before it was ready")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"bench: the web server was not ready within {seconds:.0f} s")


def wait_workers(redis: Any, workers: list[subprocess.Popen[bytes]], seconds: float = 60) -> None:
    from rq import Worker

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for worker in workers:
            if worker.poll() is not None:
                raise SystemExit(f"bench: a worker exited ({worker.returncode}) before it was ready")
        if len(Worker.all(connection=redis)) >= len(workers):
            return
        time.sleep(0.1)
    raise SystemExit(f"bench: the workers did not register within {seconds:.0f} s")


def stop_group(process: subprocess.Popen[bytes], seconds: float = 20) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            pass
    try:  # whatever it left behind in its session (a horse, the RQ scheduler)
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if process.poll() is None:
        process.wait(timeout=5)


# --- sending ---------------------------------------------------------------------------------


def send_all(
    port: int, deliveries: list[tuple[str, str, dict[str, str], bytes]], senders: int, rate: float | None
) -> tuple[dict[str, float], list[float], Counter[str]]:
    """Each sender takes every ``senders``-th delivery on its own keep-alive connection.
    Returns the wall-clock send time per incident ref, answer times, and answers by status."""
    sent_at: dict[str, float] = {}
    answer_seconds: list[float] = []
    statuses: Counter[str] = Counter()
    lock = threading.Lock()
    start = time.monotonic() + 0.05

    def sender(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine_sent: dict[str, float] = {}
        mine_answers: list[float] = []
        mine_statuses: Counter[str] = Counter()
        for n in range(index, len(deliveries), senders):
            ref, path, headers, body = deliveries[n]
            if rate:
                delay = start + n / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            wall, began = time.time(), time.perf_counter()
            try:
                connection.request("POST", path, body=body, headers=headers)
                response = connection.getresponse()
                answer = json.loads(response.read() or b"{}")
                status = f"{response.status} {answer.get('status', '')}".strip()
            except (OSError, http.client.HTTPException, ValueError) as error:
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = f"error {type(error).__name__}"
            mine_answers.append(time.perf_counter() - began)
            mine_sent[ref] = wall
            mine_statuses[status] += 1
        connection.close()
        with lock:
            sent_at.update(mine_sent)
            answer_seconds.extend(mine_answers)
            statuses.update(mine_statuses)

    threads = [threading.Thread(target=sender, args=(i,), name=f"sender-{i}", daemon=True) for i in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sent_at, answer_seconds, statuses


# --- the store -------------------------------------------------------------------------------


def as_epoch(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def progress(engine: Any) -> tuple[int, Counter[str]]:
    from sqlalchemy import func, select

    from service.store.schema import deliveries, reviews

    with engine.connect() as connection:
        opened = connection.execute(select(func.count()).select_from(reviews)).scalar_one()
        by_status = Counter(
            {
                status: count
                for status, count in connection.execute(
                    select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
                )
            }
        )
    return int(opened), by_status


def lesson_progress(engine: Any) -> tuple[int, Counter[str], Counter[str]]:
    """Lessons kept, deliveries by status, follow-ups by origin."""
    from sqlalchemy import func, select

    from service.store.schema import deliveries, followups, lessons

    with engine.connect() as connection:
        kept = connection.execute(select(func.count()).select_from(lessons)).scalar_one()
        by_status = Counter(
            {
                status: count
                for status, count in connection.execute(
                    select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
                )
            }
        )
        by_origin = Counter(
            {
                origin: count
                for origin, count in connection.execute(
                    select(followups.c.origin, func.count()).group_by(followups.c.origin)
                )
            }
        )
    return int(kept), by_status, by_origin


def outcomes(engine: Any) -> tuple[dict[str, float], dict[str, float], list[str], int]:
    """Per incident ref: when its review row was written, when its job finished; failures; retries."""
    from sqlalchemy import select

    from service.store.schema import deliveries, reviews

    with engine.connect() as connection:
        opened = {
            ref: as_epoch(at) for ref, at in connection.execute(select(reviews.c.incident_ref, reviews.c.opened_at))
        }
        done: dict[str, float] = {}
        failed: list[str] = []
        retried = 0
        for ref, status, updated, attempts, error in connection.execute(
            select(
                deliveries.c.item_ref,
                deliveries.c.status,
                deliveries.c.updated_at,
                deliveries.c.attempts,
                deliveries.c.last_error,
            )
        ):
            retried += (attempts or 0) > 1
            if status == "done":
                done[ref] = as_epoch(updated)
            elif status == "failed":
                failed.append(f"{ref}: {error}")
    return opened, done, failed, retried


def percentiles(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    count = len(values)
    if not count:
        return {"p50_s": float("nan"), "p99_s": float("nan"), "max_s": float("nan"), "mean_s": float("nan")}
    return {
        "p50_s": values[count // 2],
        "p99_s": values[min(count - 1, int(count * 0.99))],
        "max_s": values[-1],
        "mean_s": statistics.fmean(values),
    }


def clean_up(
    processes: list[subprocess.Popen[bytes]],
    doubles: Doubles | None,
    engine: Any,
    admin: Any,
    schema: str | None,
    redis: Any,
    folder: Path,
) -> None:
    """Stop what a run started (the web first: nothing new reaches the queue), drop its
    PostgreSQL schema, empty its Redis database and remove its folder."""
    for process in processes:
        stop_group(process)
    if doubles is not None:
        doubles.stop()
    if engine is not None:
        engine.dispose()
    if admin is not None:
        from sqlalchemy import text

        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    redis.flushdb()
    shutil.rmtree(folder, ignore_errors=True)


def postgres_schema(database_url: str) -> tuple[str, Any, str]:
    """A schema of its own for this run: (URL using it, admin engine, schema name)."""
    from sqlalchemy import create_engine, text

    from service.store.engine import sqlalchemy_url

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(sqlalchemy_url(database_url))
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in database_url else "?"
    return f"{database_url}{separator}options=-csearch_path%3D{schema}", admin, schema


# --- the run ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--mix", default=",".join(SOURCES), help="sources of the incidents, taken in turn")
    parser.add_argument(
        "--workers",
        type=int,
        default=4,
        help="RQ worker processes (default 4, two per core: a job waits on round trips to the trackers, "
        "Redis and the store for about half its time, so two workers leave the cores idle)",
    )
    parser.add_argument("--threads", type=int, default=1, help="lessonloop web --threads (default 1, as shipped)")
    parser.add_argument(
        "--web-processes", type=int, default=0, help="lessonloop web --processes (default: as shipped, 2 per core)"
    )
    parser.add_argument("--senders", type=int, default=4, help="concurrent delivery connections")
    parser.add_argument("--rate", type=float, help="deliveries per second (default: as fast as answered)")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds from the first send to give up")
    parser.add_argument(
        "--database-url", help="default: a SQLite file in a temporary folder; postgresql://...: a fresh schema in it"
    )
    parser.add_argument(
        "--followups",
        type=int,
        default=3,
        help="follow-ups in each lesson (default 3; 0: a paragraph that links one issue, no list)",
    )
    parser.add_argument(
        "--check-every",
        type=int,
        default=20,
        help="the doubles check the first 50 requests of each operation against the vendor's OpenAPI "
        "description, then one in N (default 20; 1: every request, as the tests do, which costs the "
        "doubles about 3 ms of CPU a request)",
    )
    parser.add_argument(
        "--vendor-limits",
        action="store_true",
        help="keep the trackers' default rate limits (GitHub 80 writes a minute: the run then takes "
        "minutes; bench/storm.py measures that pace). Default: limits lifted, instant doubles",
    )
    parser.add_argument(
        "--no-lessons",
        action="store_true",
        help="stop once the reviews are open (default: then write a lesson with three "
        "follow-ups in every review, close it, and count requests per lesson)",
    )
    args = parser.parse_args()
    mix = [s.strip() for s in args.mix.split(",") if s.strip()]
    if not mix or any(s not in SOURCES for s in mix) or args.incidents < 1:
        parser.error(f"--mix takes some of {', '.join(SOURCES)}; --incidents at least 1")

    def stop_on_term(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored

    from redis import Redis

    from service.store.engine import make_engine

    redis = Redis.from_url(REDIS_URL)
    redis.ping()
    redis.flushdb()
    folder = Path(tempfile.mkdtemp(prefix="lessonloop-bench-loop-"))
    rules = folder / "lessonloop.toml"
    rules.write_text(RULES_TOML if args.vendor_limits else RULES_TOML + UNLIMITED_TOML)
    admin = schema = None
    doubles: Doubles | None = None
    processes: list[subprocess.Popen[bytes]] = []
    sampler: Sampler | None = None
    engine = None
    result: dict[str, Any] = {}
    try:
        began = time.monotonic()
        doubles = Doubles(args.incidents, mix, check_every=args.check_every)
        database_url = args.database_url or f"sqlite:///{folder}/bench.db"
        store_kind = database_url.split("://")[0].split("+")[0]
        if store_kind == "postgresql":
            database_url, admin, schema = postgres_schema(database_url)
        env = service_env(doubles.env, database_url, rules)
        port = free_port()
        command = [sys.executable, "-m", "service.entry.cli"]
        web = subprocess.Popen(
            [*command, "web", "--port", str(port), "--threads", str(args.threads)]
            + (["--processes", str(args.web_processes)] if args.web_processes else []),
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
        processes.append(web)
        wait_ready(port, web)  # the web has migrated the store by now
        workers = [
            subprocess.Popen([*command, "worker"], env=env, cwd=ROOT, start_new_session=True)
            for _ in range(args.workers)
        ]
        processes.extend(workers)
        wait_workers(redis, workers)
        engine = make_engine(database_url)
        sampler = Sampler({web.pid: "web"} | {w.pid: "worker" for w in workers})
        sampler.start()
        print(
            f"bench: {args.incidents} incidents ({'/'.join(mix)}) seeded and everything up in "
            f"{time.monotonic() - began:.1f} s; sending",
            file=sys.stderr,
        )

        cpu_start = sampler.cpu()
        doubles_cpu_start, validation_start = doubles.ask("cpu")
        bench_start = os.times()
        first_send = time.time()
        sent_at, answers, statuses = send_all(port, doubles.deliveries, args.senders, args.rate)
        last_send = time.time()
        accepted = sum(count for status, count in statuses.items() if status.startswith("202"))
        print(
            f"bench: sent {len(sent_at)} in {last_send - first_send:.1f} s ({dict(statuses)}); waiting for reviews",
            file=sys.stderr,
        )

        deadline = first_send + args.timeout
        finished = timed_out = False
        next_note = time.time() + 10
        while True:
            opened, by_status = progress(engine)
            final = by_status["done"] + by_status["ignored"] + by_status["failed"]
            if final >= accepted and opened >= by_status["done"]:
                finished = True
                break
            if time.time() > deadline:
                timed_out = True
                break
            if time.time() >= next_note:
                print(
                    f"bench: {time.time() - first_send:5.0f} s: {opened} reviews open, deliveries {dict(by_status)}",
                    file=sys.stderr,
                )
                next_note += 10
            time.sleep(0.5)
        sampler.sample()
        memory = sampler.report()
        cpu_end = sampler.cpu()
        doubles_cpu_end, validation_end = doubles.ask("cpu")
        bench_end = os.times()
        trackers = doubles.ask("report")
        opened_at, done_at, failed, retried = outcomes(engine)

        refs = [ref for ref, *_ in doubles.deliveries]
        to_review = [opened_at[r] - sent_at[r] for r in refs if r in opened_at and r in sent_at]
        to_done = [done_at[r] - sent_at[r] for r in refs if r in done_at and r in sent_at]
        reviews_open = len(to_review)
        last_review = max((opened_at[r] for r in refs if r in opened_at), default=first_send)
        span = last_review - first_send
        calls = {name: sum(t["counts"].values()) for name, t in trackers.items()}
        result = {
            "incidents": args.incidents,
            "mix": mix,
            "store": store_kind,
            "threads": args.threads,
            "web_processes": args.web_processes or default_count(),
            "workers": args.workers,
            "senders": args.senders,
            "rate": args.rate,
            "cores": os.cpu_count(),
            "finished": finished,
            "timed_out": timed_out,
            "reviews_opened": reviews_open,
            "seconds": span,
            "incidents_per_second": reviews_open / span if span > 0 else float("nan"),
            "send_seconds": last_send - first_send,
            "sends_per_second": len(sent_at) / (last_send - first_send) if last_send > first_send else float("nan"),
            "answer": {k: v * 1000 for k, v in percentiles(answers).items()},  # ms
            "answers": dict(statuses),
            "delivery_to_review": percentiles(to_review),
            "delivery_to_job_done": percentiles(to_done),
            "deliveries_failed": len(failed),
            "deliveries_retried": retried,
            "failures": failed[:5],
            "calls_per_incident": {
                name: count / reviews_open if reviews_open else float("nan") for name, count in calls.items()
            },
            "calls": calls,
            "operations": {name: t["counts"] for name, t in trackers.items()},
            "tracker_statuses": {name: t["statuses"] for name, t in trackers.items()},
            "violations": {name: t["violation_count"] for name, t in trackers.items()},
            "checked": {name: t["validated"] for name, t in trackers.items()},
            "not_checked": {name: t["not_checked"] for name, t in trackers.items()},
            "violation_examples": [v for t in trackers.values() for v in t["violations"]][:5],
            "memory": memory,
            "cpu_s": {
                "web": cpu_end["web"] - cpu_start["web"],
                "workers": cpu_end["workers"] - cpu_start["workers"],
                "doubles": doubles_cpu_end - doubles_cpu_start,
                "doubles_validation": validation_end - validation_start,
                "bench": (bench_end.user + bench_end.system) - (bench_start.user + bench_start.system),
            },
        }
        if not args.no_lessons and finished:
            result["lessons"] = lessons_phase(args, port, doubles, engine, trackers)
    except KeyboardInterrupt:
        print("bench: interrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        if sampler is not None:
            sampler.stopped.set()
        clean_up(processes, doubles, engine, admin, schema, redis, folder)

    report(result)
    return 0 if result["finished"] else 1


def lessons_phase(
    args: argparse.Namespace, port: int, doubles: Doubles, engine: Any, before: dict[str, Any]
) -> dict[str, Any]:
    """Every review gets a lesson with three follow-ups and closes; wait until each delivery is
    final; requests per lesson are the doubles' requests in this phase over the lessons kept."""
    deliveries = doubles.ask(("fill", args.followups))
    _, status_before, _ = lesson_progress(engine)
    already = sum(status_before.values())
    first = time.time()
    _, _, statuses = send_all(port, deliveries, args.senders, args.rate)
    accepted = sum(count for status, count in statuses.items() if status.startswith("202"))
    print(f"bench: sent {len(deliveries)} review closes ({dict(statuses)}); waiting for lessons", file=sys.stderr)
    deadline = first + args.timeout
    while True:
        kept, by_status, by_origin = lesson_progress(engine)
        final = by_status["done"] + by_status["ignored"] + by_status["failed"]
        if final - already >= accepted or time.time() > deadline:
            break
        time.sleep(0.5)
    seconds = time.time() - first
    after = doubles.ask("report")
    closes = _phase(args, port, doubles, engine, doubles.ask("close-followups"), after) if args.followups > 1 else None
    calls, operations = requests_between(before, after)
    return {
        "reviews_closed": len(deliveries),
        "lessons_kept": kept,
        "seconds": seconds,
        "timed_out": final - already < accepted,
        "followups": dict(by_origin),
        "followups_each": args.followups,
        "calls": calls,
        "calls_per_lesson": {name: count / kept if kept else float("nan") for name, count in calls.items()},
        "operations": operations,
        "violations": {name: after[name]["violation_count"] for name in SOURCES},
        "deliveries_failed": by_status["failed"],
        "followup_closes": closes,
    }


def requests_between(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """The doubles' requests between two reports: in all, and by operation, per tracker."""
    calls = {name: sum(after[name]["counts"].values()) - sum(before[name]["counts"].values()) for name in SOURCES}
    operations = {
        name: {
            op: count - before[name]["counts"].get(op, 0)
            for op, count in after[name]["counts"].items()
            if count - before[name]["counts"].get(op, 0)
        }
        for name in SOURCES
    }
    return calls, operations


def _phase(
    args: argparse.Namespace,
    port: int,
    doubles: Doubles,
    engine: Any,
    deliveries: list[tuple[str, str, dict[str, str], bytes]],
    before: dict[str, Any],
) -> dict[str, Any]:
    """Send ``deliveries``, wait until each is final, and count the doubles' requests meanwhile."""
    _, status_before, _ = lesson_progress(engine)
    already = sum(status_before.values())
    first = time.time()
    _, _, statuses = send_all(port, deliveries, args.senders, args.rate)
    accepted = sum(count for status, count in statuses.items() if status.startswith("202"))
    deadline = first + args.timeout
    while True:
        _, by_status, _ = lesson_progress(engine)
        final = by_status["done"] + by_status["ignored"] + by_status["failed"]
        if final - already >= accepted or time.time() > deadline:
            break
        time.sleep(0.5)
    after = doubles.ask("report")
    calls, operations = requests_between(before, after)
    return {
        "sent": len(deliveries),
        "answers": dict(statuses),
        "seconds": time.time() - first,
        "calls": calls,
        "operations": operations,
        "calls_per_delivery": {n: c / len(deliveries) if deliveries else float("nan") for n, c in calls.items()},
    }


def report(r: dict[str, Any]) -> None:
    review, done, answer = r["delivery_to_review"], r["delivery_to_job_done"], r["answer"]
    memory, cpu = r["memory"], r["cpu_s"]
    print(
        f"store: {r['store']}, web {r['web_processes']} waitress processes x {r['threads']} threads, "
        f"{r['workers']} RQ workers, {r['senders']} senders"
        + (f" at {r['rate']:g}/s" if r["rate"] else " as fast as answered")
        + f", {r['cores']} cores shared with the doubles and the bench"
    )
    if r["timed_out"]:
        print(
            f"TIMED OUT: only {r['reviews_opened']} of {r['incidents']} reviews opened within the limit; "
            f"the figures below are for those (requests per incident also count the unfinished jobs' requests)"
        )
    print(
        f"incidents: {r['reviews_opened']} of {r['incidents']} reviews opened in {r['seconds']:.1f} s "
        f"(first send to last review opened): {r['incidents_per_second']:.1f} incidents/s"
    )
    print(
        f"deliveries: {sum(r['answers'].values())} sent in {r['send_seconds']:.1f} s "
        f"({r['sends_per_second']:.0f}/s), answers {r['answers']}, answer p50 {answer['p50_s']:.1f} ms "
        f"p99 {answer['p99_s']:.1f} ms"
    )
    print(
        f"delivery -> review opened: p50 {review['p50_s']:.2f} s  p99 {review['p99_s']:.2f} s  "
        f"max {review['max_s']:.2f} s"
    )
    print(f"delivery -> job done:      p50 {done['p50_s']:.2f} s  p99 {done['p99_s']:.2f} s  max {done['max_s']:.2f} s")
    for name in SOURCES:
        ops = ", ".join(f"{op or '?'} {count}" for op, count in sorted(r["operations"][name].items()))
        print(
            f"{name:>10} API: {r['calls_per_incident'][name]:5.2f} requests/incident "
            f"({r['calls'][name]} requests: {ops or 'none'})"
        )
    print(
        f"errors: {r['deliveries_failed']} deliveries failed, {r['deliveries_retried']} retried, "
        f"violations {r['violations']}, tracker answers {r['tracker_statuses']}"
    )
    print(f"requests checked against the OpenAPI descriptions: {r['checked']}, not checked: {r['not_checked']}")
    for line in r["failures"] + r["violation_examples"]:
        print(f"  {line[:300]}")
    print(
        f"peak memory (VmHWM): web {memory['web_mib']:.0f} MiB over {memory['web_processes']} processes "
        f"{memory['web_each_mib']}; workers {memory['workers_mib']:.0f} MiB over {memory['worker_processes']} "
        f"processes {memory['worker_each_mib']}; horses: {memory['horses_sampled']} sampled, largest "
        f"{memory['horse_max_mib']:.0f} MiB (shares its parent's pages); workers upper bound "
        f"{memory['workers_upper_bound_mib']:.0f} MiB"
    )
    print(
        f"CPU seconds during the run: web {cpu['web']:.1f}, workers {cpu['workers']:.1f}, doubles "
        f"{cpu['doubles']:.1f} (of which OpenAPI validation {cpu['doubles_validation']:.1f}), bench "
        f"{cpu['bench']:.1f}; wall {r['seconds']:.1f} s x {r['cores']} cores"
    )
    lessons = r.get("lessons")
    if lessons:
        print(
            f"lessons: {lessons['lessons_kept']} of {lessons['reviews_closed']} kept in {lessons['seconds']:.1f} s, "
            f"{lessons['followups_each']} follow-ups each: {lessons['followups']}"
            + ("; TIMED OUT" if lessons["timed_out"] else "")
        )
        per = lessons["calls_per_lesson"]
        print(
            f"requests per lesson: {sum(per.values()):.2f} in all; "
            + ", ".join(f"{name} {per[name]:.2f}" for name in SOURCES)
        )
        for name in SOURCES:
            ops = ", ".join(f"{op or '?'} {count}" for op, count in sorted(lessons["operations"][name].items()))
            print(f"{name:>10} API per lesson phase: {ops or 'none'}")
        print(f"lesson errors: {lessons['deliveries_failed']} deliveries failed, violations {lessons['violations']}")
        closes = lessons.get("followup_closes")
        if closes:
            per = closes["calls_per_delivery"]
            print(
                f"follow-up closes: {closes['sent']} ({closes['answers']}) in {closes['seconds']:.1f} s; requests "
                f"per close: {sum(per.values()):.2f} in all; " + ", ".join(f"{n} {per[n]:.2f}" for n in SOURCES)
            )
            for name in SOURCES:
                ops = ", ".join(f"{op or '?'} {count}" for op, count in sorted(closes["operations"][name].items()))
                print(f"{name:>10} API per close phase: {ops or 'none'}")
    print(json.dumps(r))


if __name__ == "__main__":
    sys.exit(main())
