"""``lessonloop serve`` as a newcomer runs it: one process tree, real HTTP, a real worker."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from redis import Redis
from sqlalchemy import create_engine, text

from tests import payloads
from tests.conftest import GITHUB_SECRET, RULES_TOML, HungRedis
from tests.processes import Lessonloop, children, lessonloop_env, run_lessonloop, wait_for, wait_for_status


@pytest.mark.slow
def test_serve_records_queues_and_handles_a_signed_delivery(tmp_path: Path, redis, trackers) -> None:
    """A signed delivery is recorded, queued and handled. Then the worker is killed: serve starts
    another, and that one handles the next delivery. One worker process, so that no other could
    handle it (``test_serve_workers.py`` runs several)."""
    (tmp_path / "lessonloop.toml").write_text(RULES_TOML)
    database = tmp_path / "lessonloop.db"
    env = lessonloop_env(**trackers, DATABASE_URL=f"sqlite:///{database}")
    with Lessonloop("serve", "--worker-processes", "1", cwd=tmp_path, env=env) as serve:
        serve.wait_ready()
        base = serve.url
        delivery = payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET)
        response = requests.post(base + delivery.path, data=delivery.body, headers=delivery.headers, timeout=10)
        assert response.status_code == 202 and response.json()["queued"] is True, response.text
        assert wait_for_status(database, response.json()["delivery"], "done") == "done"
        # nothing about sign-in configured, on loopback: the learning log opens at once
        page = requests.get(base + "/", timeout=10)
        assert page.status_code == 200 and page.url == base + "/lessons" and "Learning log" in page.text

        (worker,) = _workers(serve)
        os.kill(worker, signal.SIGKILL)
        again = payloads.github(payloads.raw("github/issues.closed") + b"\n", GITHUB_SECRET)  # a new body
        response = requests.post(base + again.path, data=again.body, headers=again.headers, timeout=10)
        assert response.status_code == 202 and response.json()["queued"] is True, response.text
        assert wait_for_status(database, response.json()["delivery"], "done") == "done"
        replacement = _workers(serve)
        assert len(replacement) == 1 and worker not in replacement, replacement
    log = serve.output()
    assert "lessonloop: listening on a free port of 127.0.0.1 (the web's line says which)" in log
    assert GITHUB_SECRET not in log
    assert '"event": "delivery accepted"' in log
    assert '"event": "worker exited; starting another"' in log
    assert serve.returncode == 0, log[-3000:]


def _workers(serve: Lessonloop) -> list[int]:
    """The pids of ``serve``'s worker processes."""
    return [pid for pid, command in children(serve.process.pid).items() if command.endswith(" worker")]


# --- the web server under stalled clients, and the settings it runs on ---------------------------


def web(tmp_path: Path, **env: str) -> Lessonloop:
    """``lessonloop web`` on a fresh SQLite store in ``tmp_path``."""
    return Lessonloop("web", cwd=tmp_path, env=lessonloop_env(DATABASE_URL=f"sqlite:///{tmp_path / 'l.db'}", **env))


def request_bytes(delivery: payloads.Delivery) -> tuple[bytes, bytes]:
    """The head and body of ``delivery`` as raw HTTP/1.1."""
    head = f"POST {delivery.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(delivery.body)}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in delivery.headers.items()) + "\r\n"
    return head.encode(), delivery.body


def still_open(connection: socket.socket) -> bool:
    """Whether the server has neither answered on ``connection`` nor closed it."""
    timeout = connection.gettimeout()
    connection.setblocking(False)
    try:
        connection.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True  # nothing to read, and not closed
    except OSError:
        return False  # reset
    finally:
        connection.settimeout(timeout)
    return False  # closed, or answered


def stalled_connections(address: tuple[str, int], count: int) -> list[socket.socket]:
    """``count`` connections stalled mid-request, in turn: nothing sent, half the headers, all
    the headers and no body, the headers and half the body, and the headers then one byte a
    second (the last shape: see :class:`Dribble`)."""
    head, body = request_bytes(payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET))
    parts = (b"", head[: len(head) // 2], head, head + body[: len(body) // 2], head)
    opened = []
    for number in range(count):
        connection = socket.create_connection(address, timeout=10)
        if parts[number % len(parts)]:
            connection.sendall(parts[number % len(parts)])
        opened.append(connection)
    return opened


class Dribble(threading.Thread):
    """Sends one byte of a body a second on each of ``connections`` until stopped."""

    def __init__(self, connections: list[socket.socket]) -> None:
        super().__init__(daemon=True)
        self.connections = connections
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(1.0):
            for connection in self.connections:
                try:
                    connection.send(b"{")
                except OSError:  # dropped: the deadline did its work
                    continue


def test_stalled_clients_of_every_shape_leave_health_and_deliveries_answered(tmp_path: Path, redis) -> None:
    """At the default settings, 200 clients stalled mid-request (nothing sent, half the headers,
    headers and no body, half the body, a byte a second) cost sockets, not the app's threads:
    /healthz and signed deliveries are answered, each within a wait well below the read
    deadline, while every stalled connection is still open (none was dropped to make room).
    The pre-fork waitress server left them unanswered for ~10 s with two processes or more."""
    stalled: list[socket.socket] = []
    dribble: Dribble | None = None
    with web(tmp_path) as server:
        server.wait_ready()
        try:
            stalled = stalled_connections(server.address, 200)
            dribble = Dribble(stalled[4::5])
            dribble.start()
            for number in range(3):
                health = requests.get(server.url + "/healthz", timeout=ANSWER_WITHIN)
                assert health.status_code == 200, health.text
                delivery = payloads.github(payloads.raw("github/issues.closed") + b" " * number, GITHUB_SECRET)
                sent = requests.post(
                    server.url + delivery.path, data=delivery.body, headers=delivery.headers, timeout=ANSWER_WITHIN
                )
                assert sent.status_code == 202, sent.text
            assert all(still_open(connection) for connection in stalled)
        finally:
            if dribble is not None:
                dribble.stopped.set()
            for connection in stalled:
                connection.close()


ANSWER_WITHIN = 4.0
"""Each answer's wait: generous to a loaded machine, well below the default read deadline (10 s)
at which the stalled clients would be dropped and their places freed."""


def closed_by_server(connection: socket.socket, dribble: bytes | None, within: float) -> bool:
    """Whether the server closes ``connection`` within ``within`` seconds while the client
    sends ``dribble`` (one byte at a time, a few a second), or stays silent if None."""
    connection.settimeout(0.3)
    deadline = time.monotonic() + within
    position = 0
    while time.monotonic() < deadline:
        try:
            if dribble is not None:
                connection.send(dribble[position % len(dribble) : position % len(dribble) + 1])
                position += 1
            if connection.recv(4096) == b"":
                return True
        except TimeoutError:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


def test_a_request_not_complete_by_the_read_deadline_is_dropped(tmp_path: Path, redis) -> None:
    """The deadline is total: a client sending a byte every 0.3 s is never idle, yet is dropped."""
    with web(tmp_path, LESSONLOOP_READ_TIMEOUT_SECONDS="2") as server, contextlib.ExitStack() as opened:
        address, base = server.address, server.url
        header_dribbler = opened.enter_context(socket.create_connection(address))
        header_dribbler.sendall(b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        head, body = request_bytes(payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET))
        body_dribbler = opened.enter_context(socket.create_connection(address))
        body_dribbler.sendall(head)
        silent = opened.enter_context(socket.create_connection(address))
        assert closed_by_server(header_dribbler, b"a", within=30)
        assert closed_by_server(body_dribbler, body, within=30)
        assert closed_by_server(silent, None, within=30)
        # a complete request, then the next on the same kept-alive connection, is answered
        session = opened.enter_context(requests.Session())
        assert session.get(base + "/healthz", timeout=5).status_code == 200
        delivery = payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET)
        assert (
            session.post(base + delivery.path, data=delivery.body, headers=delivery.headers, timeout=5).status_code
            == 202
        )


def test_web_processes_share_the_port_and_one_that_dies_is_replaced(tmp_path: Path, redis) -> None:
    """``web --processes 2``: two granian workers serve the port. One killed, the port keeps
    answering and another takes its place; SIGTERM stops them all."""
    with web(tmp_path, LESSONLOOP_WEB_PROCESSES="2", LESSONLOOP_LOG_LEVEL="info") as server:
        wait_for(lambda: server.output().count('"event": "web process ready"') == 2)
        first = sorted(children(server.process.pid))
        assert len(first) == 2, children(server.process.pid)
        os.kill(first[0], signal.SIGKILL)
        # the connections waiting in its own queue went with it (docs/server.md); once it is
        # gone, the other takes every new one
        wait_for(lambda: _exited(first[0]))

        def post(number: int) -> requests.Response:
            delivery = payloads.github(payloads.raw("github/issues.closed") + b" " * number, GITHUB_SECRET)
            return requests.post(server.url + delivery.path, data=delivery.body, headers=delivery.headers, timeout=30)

        def answered_while_replacing() -> bool:
            """While the replacement starts, a connection the kernel handed to a socket being
            opened or closed may be reset; a tracker sends such a delivery again, as here."""
            try:
                return post(0).status_code == 202
            except requests.ConnectionError:
                return False

        wait_for(answered_while_replacing)
        wait_for(lambda: server.output().count('"event": "web process ready"') == 3)
        for number in range(1, 4):  # once the replacement is ready, every delivery on the first try
            sent = post(number)
            assert sent.status_code == 202, sent.text
        assert first[0] not in children(server.process.pid) and first[1] in children(server.process.pid)
        assert len(children(server.process.pid)) == 2
        server.wait_ready()
        after = list(children(server.process.pid))
    assert server.returncode == 0, server.tail()
    assert "Unexpected exit from worker-" in server.output()
    assert all(_exited(pid) for pid in after)


def _exited(pid: int) -> bool:
    """Whether process ``pid`` has ended (gone, or a zombie not yet reaped)."""
    try:
        return "zombie" in Path(f"/proc/{pid}/status").read_text().split("State:", 1)[1].split("\n", 1)[0]
    except (FileNotFoundError, IndexError):
        return True


def test_web_processes_stop_when_the_process_that_started_them_is_killed(tmp_path: Path, redis) -> None:
    """The parent killed outright (the OOM killer): its children notice within a second or two
    and stop, instead of serving the port unsupervised where a new ``lessonloop web`` cannot
    bind it."""
    with web(tmp_path, LESSONLOOP_WEB_PROCESSES="2", LESSONLOOP_LOG_LEVEL="info") as server:
        wait_for(lambda: server.output().count('"event": "web process ready"') == 2)
        orphans = list(children(server.process.pid))
        os.kill(server.process.pid, signal.SIGKILL)
        wait_for(lambda: all(_exited(pid) for pid in orphans))
    assert server.output().count("the process that started it is gone") == 2, server.tail()


def test_serve_runs_the_web_on_the_settings_named_by_config(tmp_path: Path, redis) -> None:
    """``lessonloop --config FILE serve`` in a folder with no lessonloop.toml: the web records
    into the store FILE names (gunicorn's workers loaded ./lessonloop.toml, or the defaults)."""
    from tests.conftest import REDIS_URL

    empty = tmp_path / "empty"
    empty.mkdir()
    named = tmp_path / "named.db"
    config = tmp_path / "elsewhere" / "cfg.toml"
    config.parent.mkdir()
    config.write_text(f'database_url = "sqlite:///{named}"\nredis_url = "{REDIS_URL}"\n' + RULES_TOML)
    env = {key: value for key, value in lessonloop_env().items() if key not in ("DATABASE_URL", "REDIS_URL")}
    with Lessonloop("--config", str(config), "serve", cwd=empty, env=env) as serve:
        serve.wait_ready("/healthz")
        delivery = payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET)
        response = requests.post(serve.url + delivery.path, data=delivery.body, headers=delivery.headers, timeout=10)
        assert response.status_code == 202, response.text
        engine = create_engine(f"sqlite:///{named}")
        with engine.connect() as connection:
            recorded = connection.execute(
                text("SELECT delivery_id FROM deliveries WHERE id = :id"), {"id": response.json()["delivery"]}
            ).scalar()
        engine.dispose()
        assert recorded == delivery.headers["X-GitHub-Delivery"]
        assert list(empty.iterdir()) == []


def test_stopping_the_whole_group_stops_every_web_process_cleanly(tmp_path: Path, redis) -> None:
    with web(tmp_path, LESSONLOOP_WEB_PROCESSES="3", LESSONLOOP_LOG_LEVEL="info") as server:
        wait_for(lambda: server.output().count('"event": "web process ready"') == 3)
        processes = list(children(server.process.pid))
        os.killpg(server.process.pid, signal.SIGTERM)  # as systemd does (KillMode=control-group signals every process)
        assert server.process.wait(timeout=30) == 0
    assert all(_exited(pid) for pid in processes)
    assert "Traceback" not in server.output(), server.tail()


def test_a_hung_redis_costs_each_web_process_one_try(tmp_path: Path, redis, hung_redis: HungRedis) -> None:
    """Redis accepts and never answers. Each web process waits for it once, as long as its Redis
    client allows, then skips it (its breaker is open): eight deliveries at once across two
    processes of one thread make at most two connections, and all are recorded and answered 202
    queued:false."""
    from concurrent.futures import ThreadPoolExecutor

    sent = [payloads.github(payloads.raw("github/issues.closed") + b" " * n, GITHUB_SECRET) for n in range(8)]
    with web(tmp_path, LESSONLOOP_WEB_PROCESSES="2", REDIS_URL=hung_redis.url, LESSONLOOP_LOG_LEVEL="info") as server:
        wait_for(lambda: server.output().count('"event": "web process ready"') == 2)

        def send(delivery: payloads.Delivery) -> requests.Response:
            return requests.post(server.url + delivery.path, data=delivery.body, headers=delivery.headers, timeout=30)

        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(send, sent))
        assert [answer.status_code for answer in answers] == [202] * 8, [answer.text for answer in answers]
        assert all(answer.json()["queued"] is False for answer in answers)
        assert 1 <= hung_redis.connections() <= 2


def test_a_request_in_hand_when_sigterm_comes_is_answered(tmp_path: Path, redis) -> None:
    """SIGTERM while a delivery is half sent: the worker waits for the rest, answers it, then
    the server stops (exit 0). The answer cannot come before the test sends the second half."""
    head, body = request_bytes(payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET))
    with web(tmp_path, LESSONLOOP_WEB_PROCESSES="1") as server:
        server.wait_ready()
        with socket.create_connection(server.address, timeout=30) as connection:
            connection.sendall(head + body[: len(body) // 2])
            server.process.send_signal(signal.SIGTERM)
            wait_for(lambda: refused(server.address))  # the worker has stopped accepting: it is stopping
            connection.sendall(body[len(body) // 2 :])
            answer = connection.recv(4096)
        assert answer.startswith(b"HTTP/1.1 202"), answer
        assert server.process.wait(timeout=60) == 0, server.tail()
    assert "Traceback" not in server.output(), server.tail()


def refused(address: tuple[str, int]) -> bool:
    try:
        socket.create_connection(address, timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.slow
def test_a_busy_port_is_one_line_before_anything_says_listening(tmp_path: Path, redis) -> None:
    """Another program on the port, or another ``lessonloop web``: one line, a non-zero exit,
    no traceback, and no "listening"."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    env = lessonloop_env(DATABASE_URL=f"sqlite:///{tmp_path / 'l.db'}")
    try:
        for command in ("web", "serve"):
            done = run_lessonloop(command, "--port", str(port), env=env, cwd=tmp_path)
            assert done.returncode != 0, done.stderr
            assert done.stderr.strip().splitlines()[-1] == f"lessonloop: port {port} on 127.0.0.1 is in use", (
                done.stderr
            )
            assert "Traceback" not in done.stderr and "listening" not in done.stderr, done.stderr
    finally:
        taken.close()
    with web(tmp_path) as first:
        again = run_lessonloop("web", "--port", str(first.address[1]), env=env, cwd=tmp_path)
        assert again.returncode != 0 and "is in use" in again.stderr, again.stderr
        assert "Traceback" not in again.stderr and "listening" not in again.stderr, again.stderr


def test_stopping_serve_says_what_it_waits_for_and_kills_what_does_not_stop(tmp_path: Path, redis) -> None:
    """Ctrl-C on ``serve`` with a worker that cannot stop (SIGSTOP: it never runs its SIGTERM
    handler): serve says what it waits for, kills that worker at its bound, and exits quietly."""
    env = lessonloop_env(DATABASE_URL=f"sqlite:///{tmp_path / 'l.db'}")
    with Lessonloop("serve", "--processes", "1", cwd=tmp_path, env=env) as serve:
        serve.wait_ready()
        # both workers up: registered with RQ, subscribed and waiting for jobs (the web answers
        # first, and a worker picked while it still starts may be one that is being replaced)
        wait_for(lambda: len(_waiting_workers(redis, serve.process.pid)) == 2, seconds=60)
        worker = _waiting_workers(redis, serve.process.pid)[0]
        os.kill(worker, signal.SIGSTOP)
        serve.process.send_signal(signal.SIGINT)
        assert serve.process.wait(timeout=60) == 0, serve.tail()
    log = serve.output()
    assert "lessonloop: stopping: waiting up to 4.5 s for the web to answer the requests it holds" in log, log
    assert f"lessonloop: killed what had not stopped in time: worker {worker}" in log, log
    assert "Traceback" not in log, log
    assert _exited(worker)


def _waiting_workers(redis: Redis, serve_pid: int) -> list[int]:
    """The pids of ``serve``'s worker children that RQ lists as idle and subscribed."""
    from rq import Worker
    from rq.worker import WorkerStatus

    mine = {child for child, command in children(serve_pid).items() if command.endswith(" worker")}
    return [
        one.pid
        for one in Worker.all(connection=redis)
        if one.pid in mine
        and one.get_state() == WorkerStatus.IDLE
        and redis.pubsub_numsub(one.pubsub_channel_name)[0][1]
    ]


def test_output_into_a_pipe_closed_early_ends_quietly(tmp_path: Path) -> None:
    """``lessonloop ... | head -1``: more output than the pipe holds, its reader gone after one
    line. The command exits 141, as a shell's would on SIGPIPE, without a traceback."""
    text = tmp_path / "lesson.md"
    text.write_text("Bob forgot to run the migration.\n" * 4000)
    command = f'{sys.executable} -m service.entry.cli lessons lint {text} | head -1; echo "exit ${{PIPESTATUS[0]}}"'
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.stdout.splitlines()[-1] == "exit 141", done.stdout[-500:] + done.stderr
    assert len(done.stdout.splitlines()) == 2
    assert done.stderr == "", done.stderr


def test_the_images_command_serves_and_passes_its_healthcheck(tmp_path: Path, redis) -> None:
    """The Dockerfile's CMD and HEALTHCHECK, as written there, with the image's environment
    (no docker engine here: the command runs as a process; its port swapped for a free one)."""
    import re
    import shlex

    dockerfile = (Path(__file__).resolve().parents[1] / "Dockerfile").read_text()
    command = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1))
    assert command == ["lessonloop", "web", "--host", "0.0.0.0", "--port", "8000"]
    image_env = dict(re.findall(r"(\w+)=(\S+)", dockerfile.split("\nENV DATABASE_URL", 1)[1].split("\n#", 1)[0]))
    image_env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'lessonloop.db'}"  # for /data/lessonloop.db
    assert image_env["LESSONLOOP_AUTH"] == "proxy"
    # the last --port wins; four workers build their apps before it says where it listens
    with Lessonloop(*command[1:], cwd=tmp_path, env=lessonloop_env(**image_env), seconds=60) as server:
        port = server.address[1]
        server.wait_ready("/healthz")
        check = shlex.split(re.search(r"^HEALTHCHECK .* CMD (.*)$", dockerfile, re.M).group(1))
        check = [sys.executable if word == "python" else word.replace(":8000/", f":{port}/") for word in check]
        assert subprocess.run(check, timeout=60, capture_output=True, text=True).returncode == 0
