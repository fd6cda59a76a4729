# lessonloop: one image for the web receiver and the workers (docker-compose.yml runs both).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md requirements.txt ./
COPY service ./service
COPY workers ./workers
COPY config ./config
RUN pip install --require-hashes -r requirements.txt && pip install --no-deps . \
 && useradd --system --home-dir /app --shell /usr/sbin/nologin lessonloop \
 && mkdir -p /data && chown lessonloop /data

USER lessonloop
# SQLite only for a trial; production sets DATABASE_URL to PostgreSQL. The server listens on
# 0.0.0.0, where sign-in cannot be off: the learning log is read through a sign-in proxy
# ([web] trusted_proxies) until LESSONLOOP_AUTH=oidc is set (docs/web.md)
ENV DATABASE_URL=sqlite:////data/lessonloop.db \
    LESSONLOOP_LOG_FORMAT=json \
    LESSONLOOP_AUTH=proxy
# `lessonloop web` reserves the port, then serves it with granian's worker processes
# (LESSONLOOP_WEB_PROCESSES; default two per core, at most 4), which granian restarts if one
# dies. A request's headers must arrive within LESSONLOOP_READ_TIMEOUT_SECONDS (default 10) and
# its body within as long again; bodies are read whole, within the body limit, before an app
# thread sees them, so stalled clients cost sockets, never threads, and it can face the internet
# without a buffering proxy in front. SIGTERM (to this process, PID 1) lets the requests in hand
# finish (up to 20 s) before it exits. tests/test_serve.py runs this CMD.
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["lessonloop", "web", "--host", "0.0.0.0", "--port", "8000"]
