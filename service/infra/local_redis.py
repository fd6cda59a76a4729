"""Starting a private Redis for ``lessonloop serve`` when none answers at a local REDIS_URL.

The single-machine way to run lessonloop should need nothing but the package and a
``redis-server`` binary; production points REDIS_URL at a managed Redis and never gets here.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from urllib.parse import urlparse

from redis import Redis
from redis.exceptions import RedisError

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", ""}


class RedisUnavailable(RuntimeError):
    pass


def answers(redis_url: str) -> bool:
    try:
        return bool(Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=1).ping())
    except RedisError:
        return False


def ensure(redis_url: str) -> subprocess.Popen[bytes] | None:
    """Return None when Redis already answers, else the process of a Redis started for us."""
    if answers(redis_url):
        return None
    parsed = urlparse(redis_url)
    if parsed.scheme != "redis" or (parsed.hostname or "") not in _LOCAL_HOSTS:
        raise RedisUnavailable(f"REDIS_URL: no Redis answers at {safe_url(redis_url)}")
    binary = shutil.which("redis-server")
    if binary is None:
        raise RedisUnavailable(
            f"REDIS_URL: no Redis answers at {safe_url(redis_url)} and redis-server is not installed "
            "(apt-get install redis-server, brew install redis), or point REDIS_URL at a running Redis"
        )
    port = str(parsed.port or 6379)
    process = subprocess.Popen(
        [binary, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if answers(redis_url):
            return process
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    raise RedisUnavailable(f"REDIS_URL: started redis-server on port {port}, but it did not answer")


def safe_url(redis_url: str) -> str:
    parsed = urlparse(redis_url)
    if parsed.password:
        return redis_url.replace(parsed.password, "***")
    return redis_url
