"""``lessonloop serve`` as a newcomer runs it: one process tree, real HTTP, a real worker."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

from tests import payloads
from tests.conftest import GITHUB_SECRET, RULES_TOML, base_env
from tests.processes import children


def wait_for_status(database: Path, delivery: int, wanted: str) -> str | None:
    engine = create_engine(f"sqlite:///{database}")
    deadline = time.monotonic() + 30
    status = None
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            status = connection.execute(text("SELECT status FROM deliveries WHERE id = :id"), {"id": delivery}).scalar()
        if status == wanted:
            break
        time.sleep(0.2)
    engine.dispose()
    return status


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_records_queues_and_handles_a_signed_delivery(tmp_path: Path, redis, trackers) -> None:
    (tmp_path / "lessonloop.toml").write_text(RULES_TOML)
    port = free_port()
    database = tmp_path / "lessonloop.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LESSONLOOP_")}
    env |= base_env() | trackers | {"DATABASE_URL": f"sqlite:///{database}", "LESSONLOOP_LOG_FORMAT": "json"}
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        else:
            raise AssertionError("serve did not become ready")
        delivery = payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET)
        response = requests.post(base + delivery.path, data=delivery.body, headers=delivery.headers, timeout=10)
        assert response.status_code == 202, response.text
        assert wait_for_status(database, response.json()["delivery"], "done") == "done"
        # nothing about sign-in configured, on loopback: the learning log opens at once
        page = requests.get(base + "/", timeout=10)
        assert page.status_code == 200 and page.url == base + "/lessons" and "Learning log" in page.text

        # the worker dies: serve starts another, and the next delivery is handled too
        worker = next(pid for pid, command in children(process.pid).items() if command.endswith(" worker"))
        os.kill(worker, signal.SIGKILL)
        again = payloads.github(payloads.raw("github/issues.closed") + b"\n", GITHUB_SECRET)  # a new body
        response = requests.post(base + again.path, data=again.body, headers=again.headers, timeout=10)
        assert response.status_code == 202, response.text
        assert wait_for_status(database, response.json()["delivery"], "done") == "done"
        assert worker not in children(process.pid)
    except AssertionError:
        process.send_signal(signal.SIGTERM)
        print(process.communicate(timeout=30)[0].decode()[-4000:])
        raise
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
    log = output.decode()
    assert GITHUB_SECRET not in log
    assert '"event": "delivery accepted"' in log
    assert process.returncode == 0, log[-3000:]


# --- the web server under stalled clients, and the settings it runs on ---------------------------


def web_env(database: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LESSONLOOP_")}
    return env | base_env() | {"DATABASE_URL": f"sqlite:///{database}", "LESSONLOOP_LOG_FORMAT": "json"} | extra


def start_web(cwd: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """``lessonloop web --port 0``, and its address read back from the line it prints."""
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "web", "--port", "0"],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    found: queue.Queue[str] = queue.Queue()

    def read_log() -> None:  # to its end, so a full pipe never blocks the server
        assert process.stderr is not None
        for line in process.stderr:
            if b"web listening on " in line:
                found.put(line.decode().split("web listening on ", 1)[1].strip())

    threading.Thread(target=read_log, daemon=True).start()
    try:
        return process, found.get(timeout=30)
    except queue.Empty:
        os.killpg(process.pid, signal.SIGKILL)
        raise AssertionError(f"lessonloop web did not say where it listens (exit code {process.wait()})") from None


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


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


def address_of(base: str) -> tuple[str, int]:
    host, port = base.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def test_two_hundred_stalled_clients_do_not_stop_the_receiver(tmp_path: Path, redis) -> None:
    """A client that sends headers and stalls held a gunicorn thread; twelve of them stopped
    the receiver. Here the check is that answers come at all, within a 1 s client timeout."""
    database = tmp_path / "lessonloop.db"
    process, base = start_web(tmp_path, web_env(database))
    stalled: list[socket.socket] = []
    try:
        stalled = stalled_connections(address_of(base), 200)
        delivery = payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET)
        response = requests.post(base + delivery.path, data=delivery.body, headers=delivery.headers, timeout=1)
        assert response.status_code == 202, response.text
        assert response.json()["queued"] is True
        assert requests.get(base + "/healthz", timeout=1).status_code == 200
        assert requests.get(base + "/readyz", timeout=1).status_code == 200
    finally:
        for connection in stalled:
            connection.close()
        stop(process)


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
    process, base = start_web(tmp_path, web_env(tmp_path / "lessonloop.db", LESSONLOOP_READ_TIMEOUT_SECONDS="2"))
    try:
        address = address_of(base)
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
    finally:
        stop(process)


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
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LESSONLOOP_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    env |= {key: value for key, value in base_env().items() if key != "REDIS_URL"}
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "--config", str(config), "serve", "--port", str(port)],
        cwd=empty,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        delivery = payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET)
        response = requests.post(base + delivery.path, data=delivery.body, headers=delivery.headers, timeout=10)
        assert response.status_code == 202, response.text
        engine = create_engine(f"sqlite:///{named}")
        with engine.connect() as connection:
            recorded = connection.execute(
                text("SELECT delivery_id FROM deliveries WHERE id = :id"), {"id": response.json()["delivery"]}
            ).scalar()
        engine.dispose()
        assert recorded == delivery.headers["X-GitHub-Delivery"]
        assert list(empty.iterdir()) == []
    finally:
        stop(process)
