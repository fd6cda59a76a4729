"""``lessonloop serve`` as a newcomer runs it: one process tree, real HTTP, a real worker."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

from service.prefork import ConnectionShares
from tests import payloads
from tests.conftest import GITHUB_SECRET, RULES_TOML, HungRedis
from tests.processes import Lessonloop, children, connections_held, lessonloop_env, wait_for, wait_for_status


def test_serve_records_queues_and_handles_a_signed_delivery(tmp_path: Path, redis, trackers) -> None:
    (tmp_path / "lessonloop.toml").write_text(RULES_TOML)
    database = tmp_path / "lessonloop.db"
    env = lessonloop_env(**trackers, DATABASE_URL=f"sqlite:///{database}")
    with Lessonloop("serve", cwd=tmp_path, env=env) as serve:
        serve.wait_ready()
        base = serve.url
        delivery = payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET)
        response = requests.post(base + delivery.path, data=delivery.body, headers=delivery.headers, timeout=10)
        assert response.status_code == 202, response.text
        assert wait_for_status(database, response.json()["delivery"], "done") == "done"
        # nothing about sign-in configured, on loopback: the learning log opens at once
        page = requests.get(base + "/", timeout=10)
        assert page.status_code == 200 and page.url == base + "/lessons" and "Learning log" in page.text

        # the worker dies: serve starts another, and the next delivery is handled too
        worker = next(pid for pid, command in children(serve.process.pid).items() if command.endswith(" worker"))
        os.kill(worker, signal.SIGKILL)
        again = payloads.github(payloads.raw("github/issues.closed") + b"\n", GITHUB_SECRET)  # a new body
        response = requests.post(base + again.path, data=again.body, headers=again.headers, timeout=10)
        assert response.status_code == 202, response.text
        assert wait_for_status(database, response.json()["delivery"], "done") == "done"
        assert worker not in children(serve.process.pid)
    log = serve.output()
    assert "lessonloop: listening on a free port of 127.0.0.1 (the web's line says which)" in log
    assert GITHUB_SECRET not in log
    assert '"event": "delivery accepted"' in log
    assert serve.returncode == 0, log[-3000:]


# --- the web server under stalled clients, and the settings it runs on ---------------------------


def web(tmp_path: Path, **env: str) -> Lessonloop:
    """``lessonloop web`` on a fresh SQLite store in ``tmp_path``."""
    return Lessonloop("web", cwd=tmp_path, env=lessonloop_env(DATABASE_URL=f"sqlite:///{tmp_path / 'l.db'}", **env))


def request_bytes(delivery: payloads.Delivery) -> tuple[bytes, bytes]:
    """The head and body of ``delivery`` as raw HTTP/1.1."""
    head = f"POST {delivery.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(delivery.body)}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in delivery.headers.items()) + "\r\n"
    return head.encode(), delivery.body


def stalled_connections(address: tuple[str, int], count: int) -> list[socket.socket]:
    """``count`` connections stalled mid-request, in turn: nothing sent, half the headers, all
    the headers and no body, the headers and half the body."""
    head, body = request_bytes(payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET))
    parts = (b"", head[: len(head) // 2], head, head + body[: len(body) // 2])
    opened = []
    for number in range(count):
        connection = socket.create_connection(address, timeout=10)
        if parts[number % 4]:
            connection.sendall(parts[number % 4])
        opened.append(connection)
    return opened


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


def test_two_hundred_stalled_clients_do_not_stop_the_receiver(tmp_path: Path, redis) -> None:
    """A client that sends headers and stalls held a gunicorn thread; twelve of them stopped
    the receiver. Here a delivery and the health checks are answered while all two hundred are
    still stalled (the read deadline is far off, so none was dropped to make room)."""
    stalled: list[socket.socket] = []
    with web(tmp_path, LESSONLOOP_READ_TIMEOUT_SECONDS="300") as server:
        try:
            stalled = stalled_connections(server.address, 200)
            delivery = payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET)
            response = requests.post(
                server.url + delivery.path, data=delivery.body, headers=delivery.headers, timeout=60
            )
            assert response.status_code == 202, response.text
            assert response.json()["queued"] is True
            assert requests.get(server.url + "/healthz", timeout=60).status_code == 200
            assert requests.get(server.url + "/readyz", timeout=60).status_code == 200
            assert all(still_open(connection) for connection in stalled)
        finally:
            for connection in stalled:
                connection.close()


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
    with web(tmp_path, LESSONLOOP_READ_TIMEOUT_SECONDS="2") as server:
        address, base = server.address, server.url
        header_dribbler = socket.create_connection(address)
        header_dribbler.sendall(b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        head, body = request_bytes(payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET))
        body_dribbler = socket.create_connection(address)
        body_dribbler.sendall(head)
        silent = socket.create_connection(address)
        assert closed_by_server(header_dribbler, b"a", within=30)
        assert closed_by_server(body_dribbler, body, within=30)
        assert closed_by_server(silent, None, within=30)
        # a complete request, then the next on the same kept-alive connection, is answered
        session = requests.Session()
        assert session.get(base + "/healthz", timeout=5).status_code == 200
        delivery = payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET)
        assert (
            session.post(base + delivery.path, data=delivery.body, headers=delivery.headers, timeout=5).status_code
            == 202
        )


def test_web_processes_share_the_port_and_one_that_dies_is_replaced(tmp_path: Path, redis) -> None:
    """``web --processes 2``: two children of the process that bound the port serve it. One
    killed, the port keeps answering and another takes its place; SIGTERM stops them all."""
    with web(tmp_path, LESSONLOOP_WEB_PROCESSES="2") as server:
        server.wait_ready()
        first = sorted(children(server.process.pid))
        assert len(first) == 2, children(server.process.pid)
        os.kill(first[0], signal.SIGKILL)
        for number in range(3):  # answered while one is gone and after
            delivery = payloads.github(payloads.raw("github/issues.closed") + b" " * number, GITHUB_SECRET)
            sent = requests.post(server.url + delivery.path, data=delivery.body, headers=delivery.headers, timeout=30)
            assert sent.status_code == 202, sent.text
        wait_for(lambda: len(children(server.process.pid)) == 2 and first[0] not in children(server.process.pid))
        assert first[1] in children(server.process.pid)
        server.wait_ready()
        after = list(children(server.process.pid))
    assert server.returncode == 0, server.tail()
    assert '"event": "web process exited; starting another"' in server.output()
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


def test_kept_alive_connections_are_spread_over_the_web_processes(tmp_path: Path, redis) -> None:
    """Left to the kernel, the first process awake took every waiting connection: two kept-alive
    clients often shared one process while another idled. Each process now polls for new
    connections only while it holds no more than any other."""
    with web(tmp_path, LESSONLOOP_WEB_PROCESSES="2", LESSONLOOP_LOG_LEVEL="info") as server:
        wait_for(lambda: server.output().count('"event": "web process ready"') == 2)  # both polling
        processes = sorted(children(server.process.pid))
        sessions = []
        for _ in range(6):  # one after another, each answered before the next connects
            session = requests.Session()
            assert session.get(server.url + "/healthz", timeout=30).status_code == 200
            sessions.append(session)
        held = connections_held(processes, server.address[1])
        for session in sessions:
            session.close()
    assert sorted(held.values()) == [3, 3], held


def test_a_process_takes_new_connections_only_while_it_holds_the_fewest() -> None:
    shares = ConnectionShares(3)
    first, second, third = (shares.share(slot) for slot in range(3))
    now = 1000.0
    assert first.may_accept(0, now) and first.may_accept(1, now)  # the others have not started
    assert second.may_accept(0, now) and third.may_accept(0, now)  # 1, 0, 0
    assert not first.may_accept(1, now)
    assert not second.may_accept(1, now) and third.may_accept(0, now)  # 1, 1, 0: the third's turn
    assert third.may_accept(1, now) and first.may_accept(1, now) and second.may_accept(1, now)  # even
    assert not first.may_accept(2, now)  # 2, 1, 1
    shares.absent(1)  # the second died: until its successor serves, the others take its share
    assert third.may_accept(1, now) and not first.may_accept(2, now) and third.may_accept(2, now)
    assert first.may_accept(2, now)
    # the third stops saying (SIGSTOP, or stuck): after STALE_SECONDS the first no longer waits on it
    later = now + ConnectionShares.STALE_SECONDS + 0.5
    assert third.may_accept(0, now)  # 2, -, 0
    assert not first.may_accept(2, now + 1)
    assert first.may_accept(2, later)


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


def test_waitress_queue_warnings_only_for_deep_queues_and_once_a_minute() -> None:
    """With one app thread per web process, a request or two waiting is routine; a deep queue is
    worth a line, once a minute, with how many were held back."""
    import logging

    from service.logs import DeepQueues

    def record(depth: int) -> logging.LogRecord:
        return logging.LogRecord(
            "waitress.queue", logging.WARNING, __file__, 1, "Task queue depth is %d", (depth,), None
        )

    queues = DeepQueues(60.0, 16)
    assert [queues.filter(record(depth)) for depth in (1, 2, 15)] == [False, False, False]
    first = record(16)
    assert queues.filter(first) and first.getMessage() == "Task queue depth is 16"
    assert not queues.filter(record(40))  # within the minute
    queues._next = 0.0  # the minute is over
    later = record(20)
    assert queues.filter(later) and later.getMessage() == "Task queue depth is 20 (1 such lines held back)"


def test_a_second_stop_signal_does_not_cut_a_web_process_short() -> None:
    """A service manager that signals the whole group makes each web process hear SIGTERM twice
    (once from it, once passed on by the parent). The first stops the server; the second is
    ignored, so the requests in hand and the clean-up finish (the second used to raise inside
    logging's shutdown, and the child ran on into its parent's code)."""
    from service import prefork

    pid = os.fork()
    if pid == 0:  # the child: the first SIGTERM raises SystemExit, the second changes nothing
        code = 1
        try:
            prefork.install_stop_handlers()
            try:
                os.kill(os.getpid(), signal.SIGTERM)
            except SystemExit:
                os.kill(os.getpid(), signal.SIGTERM)
                code = 7
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 7


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
