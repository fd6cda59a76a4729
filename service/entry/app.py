"""The Flask application factory: settings in, app out (as in Flask's tutorial)."""

from __future__ import annotations

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text
from werkzeug.exceptions import HTTPException

from config.settings import Settings
from service.infra import breaker as redis_breaker
from service.infra import logs
from service.infra import queue as jobs_queue
from service.infra.runtime import Runtime
from service.receive.webhooks import blueprint as webhooks_blueprint
from service.store.engine import make_engine
from service.web import blueprint as web
from service.web import errors

log = logs.get(__name__)


def web_runtime(settings: Settings, threads: int = 8) -> Runtime:
    """The web's store and Redis: a store connection for each of its ``threads``, and a Redis
    that gives up within half a second (see :func:`service.infra.queue.connect`), so Redis trouble
    never holds an answer."""
    redis = jobs_queue.connect(settings.redis_url, web=True)
    engine = make_engine(settings.database_url, pool_size=threads, pre_ping=False)
    return Runtime(settings, engine, redis, jobs_queue.queue(redis))


def create_app(settings: Settings, runtime: Runtime | None = None) -> Flask:
    app = Flask("lessonloop")
    app.config["MAX_CONTENT_LENGTH"] = settings.server.max_body_bytes
    app.extensions["lessonloop"] = runtime or web_runtime(settings)
    redis_breaker.install(app)
    app.register_blueprint(webhooks_blueprint)
    web.install(app, settings, lambda: _session_key(settings, app.extensions["lessonloop"]))

    @app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz() -> ResponseReturnValue:
        rt: Runtime = app.extensions["lessonloop"]
        checks = {"redis": "ok", "store": "ok"}
        breaker = redis_breaker.of(app)
        if not breaker.allow():
            checks["redis"] = "unavailable: failed in the last few seconds"
        else:
            try:
                rt.redis.ping()
                breaker.succeeded()
            except Exception as error:  # noqa: BLE001 - any failure means not ready
                breaker.failed()
                checks["redis"] = f"unavailable: {type(error).__name__}"
        try:
            with rt.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as error:  # noqa: BLE001
            checks["store"] = f"unavailable: {type(error).__name__}"
        ready = all(value == "ok" for value in checks.values())
        return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> ResponseReturnValue:
        reasons = {
            413: f"body larger than {settings.server.max_body_bytes} bytes (LESSONLOOP_MAX_BODY_BYTES)",
        }
        return errors.from_exception(error, reasons.get(error.code or 500))

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> ResponseReturnValue:
        # never a stack trace or a secret on an error page; the log has the details
        log.exception("unhandled error", error_type=type(error).__name__)
        return errors.answer(500, "internal error; see the service log")

    return app


def _session_key(settings: Settings, runtime: Runtime) -> str:
    """``LESSONLOOP_SESSION_KEY``, else the key the store generated once (the store must be
    migrated; every web process then signs and accepts the same cookies)."""
    if settings.web.session_key is not None:
        return settings.web.session_key.get_secret_value()
    from service.store.instance import generated_session_key

    return generated_session_key(runtime.engine)
