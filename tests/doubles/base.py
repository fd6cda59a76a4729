"""What every tracker double shares: a real HTTP server on loopback that checks each request
against the vendor's published OpenAPI description, injects faults, and logs what it served.

A request the description refuses, or one no route of the double knows, is answered the way
the tracker would (400 or 404) *and* recorded in :attr:`TrackerDouble.violations`; the pytest
fixtures fail the test at teardown when that list is not empty. Tests can also ask for
trouble: :meth:`TrackerDouble.fail_next` (429 with ``Retry-After``, 500, 404, ...) and
:meth:`TrackerDouble.slow_next`.

Rate limits are enforced on demand (:meth:`TrackerDouble.enforce_limits`, per credential, with
windows as short as a test likes): a request that arrives when its window is full is answered as
the tracker answers it (GitHub 403 with ``retry-after``, PagerDuty 429 with ``ratelimit-reset``,
Jira 429 with ``Retry-After``) and counted in :attr:`TrackerDouble.limit_violations`, apart from
the contract violations (a test that provokes a 429 on purpose is not broken).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from flask import Flask, Response, request
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from werkzeug.datastructures import Headers, ImmutableMultiDict
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request

CONTRACTS = Path(__file__).resolve().parent.parent / "contracts"


@cache
def load_spec(file_name: str) -> OpenAPI:
    """Parse a contract once per process: they are large and every double of a kind shares one."""
    with open(CONTRACTS / file_name, encoding="utf-8") as handle:
        return OpenAPI.from_dict(json.load(handle))


class _SpecRequest:
    """A werkzeug request as openapi-core sees it, at the spec's own server URL and path.

    The double listens on 127.0.0.1 (and maybe under a prefix such as GitHub Enterprise's
    ``/api/v3``), so the request is presented path-relative to the description's server.
    """

    def __init__(self, req: Request, host_url: str, path: str, query: ImmutableMultiDict[str, str]) -> None:
        self.host_url = host_url
        self.path = path
        self.method = req.method.lower()
        self.body = req.get_data(cache=True)
        self.content_type = req.content_type or "application/octet-stream"
        self.parameters = RequestParameters(query=query, header=Headers(req.headers), cookie=req.cookies)


@dataclass(frozen=True)
class Fault:
    status: int | None  # None: answer normally, only late
    delay: float = 0.0
    retry_after: float | None = None
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    operation: str | None = None  # only requests to this route; None: any request
    gate: threading.Event | None = None  # held until this is set (or the double stops), not for ``delay``

    def applies_to(self, operation: str) -> bool:
        return self.operation is None or self.operation == operation


@dataclass(frozen=True)
class RateLimit:
    """At most ``limit`` requests of ``methods`` (None: any) per credential in any ``window`` seconds."""

    limit: int
    window: float
    methods: frozenset[str] | None = None
    name: str = "requests"

    def applies_to(self, method: str) -> bool:
        return self.methods is None or method.upper() in self.methods

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "limit": self.limit,
            "window": self.window,
            "methods": None if self.methods is None else sorted(self.methods),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RateLimit:
        limit, window, methods = data.get("limit"), data.get("window"), data.get("methods")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError("limit: a positive whole number")
        if isinstance(window, bool) or not isinstance(window, (int, float)) or window <= 0:
            raise ValueError("window: a positive number of seconds")
        if methods is not None and (not isinstance(methods, list) or not all(isinstance(m, str) for m in methods)):
            raise ValueError("methods: a list of HTTP methods, or null for every request")
        return cls(
            limit,
            float(window),
            None if methods is None else frozenset(m.upper() for m in methods),
            str(data.get("name") or "requests"),
        )


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    operation: str  # the double's route name, e.g. "create_issue"; "" when unknown
    status: int
    headers: Mapping[str, str]
    body: Any  # parsed JSON, or None
    query: Mapping[str, list[str]]


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr: the double's own log is the record, and violations are loud."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class TrackerDouble:
    """Base for the GitHub, Jira and PagerDuty doubles. Subclasses add routes in ``_routes``."""

    name = "tracker"
    spec_file = ""
    spec_server = ""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, prefix: str = "") -> None:
        self.host = host
        self.port = port
        self.prefix = prefix.rstrip("/")
        self.spec = load_spec(self.spec_file)
        self.lock = threading.RLock()
        self.violations: list[str] = []
        self.log: list[LoggedRequest] = []
        self._faults: list[Fault] = []
        self._late_replies: list[Fault] = []
        self._arrivals: Counter[str] = Counter()
        self.rate_limits: tuple[RateLimit, ...] = ()
        self.limit_violations: list[str] = []
        self._limit_accepted: Counter[int] = Counter()  # limit index -> requests it let through
        self._windows: dict[tuple[int, str], deque[float]] = {}  # (limit index, credential) -> arrivals
        self._stopping = threading.Event()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._mounts: dict[str, Any] = {}  # path -> WSGI app served beside the API, outside it
        self.app = Flask(f"{self.name}-double")
        self.app.before_request(self._before)
        self.app.after_request(self._after)
        self.app.register_error_handler(404, self._not_found)
        self.app.register_error_handler(405, self._not_found)
        self._routes()

    # --- lifecycle ----------------------------------------------------------------------------

    def mount(self, path: str, app: Any) -> None:
        """Serve another WSGI ``app`` at ``base_url + path`` (e.g. ``"/_double"``), beside the
        API and apart from it: requests under ``path`` go to ``app`` alone, so they are not
        checked against the description, logged, counted or faulted. Every other path still
        goes through the API's pipeline (unknown ones are 404 and a violation). Call before
        :meth:`start`. ``python -m tests.doubles`` mounts its admin interface this way."""
        self._mounts[self.prefix + "/" + path.strip("/")] = app

    def start(self) -> TrackerDouble:
        served = DispatcherMiddleware(self.app, dict(self._mounts)) if self._mounts else self.app
        self._server = make_server(self.host, self.port, served, threaded=True, request_handler=_QuietHandler)
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name=f"{self.name}-double", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> TrackerDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What a client is configured with."""
        return self.origin + self.prefix

    # --- what tests ask of it -----------------------------------------------------------------

    def fail_next(
        self,
        n: int,
        status: int,
        retry_after: float | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        operation: str | None = None,
    ) -> None:
        """Answer the next ``n`` requests with ``status`` (and ``Retry-After`` when given),
        with the tracker's own error body unless ``body`` is given.

        ``operation`` (a route name such as ``"create_comment"``) limits the fault to requests
        of that operation, to fail the second step of a flow after the first succeeded.
        """
        with self.lock:
            self._faults.extend(Fault(status, 0.0, retry_after, body, dict(headers or {}), operation) for _ in range(n))

    def slow_next(self, n: int, seconds: float, operation: str | None = None) -> None:
        """Answer the next ``n`` requests (of ``operation`` if given) normally, but only after ``seconds``."""
        with self.lock:
            self._faults.extend(Fault(None, seconds, operation=operation) for _ in range(n))

    def slow_reply_next(self, n: int, seconds: float, operation: str | None = None) -> None:
        """Carry out the next ``n`` requests (of ``operation`` if given) at once, but answer only
        after ``seconds``: the write has happened, the caller has not heard. A worker killed
        then must find its own work on the next run."""
        with self.lock:
            self._late_replies.extend(Fault(None, seconds, operation=operation) for _ in range(n))

    def hold_next(self, operation: str) -> threading.Event:
        """Hold the next request of ``operation`` before the tracker acts on it, until the
        returned event is set: then it is carried out and answered (to whoever still listens).
        A test decides when a write lands, not a clock."""
        gate = threading.Event()
        with self.lock:
            self._faults.append(Fault(None, operation=operation, gate=gate))
        return gate

    def hold_reply_next(self, operation: str) -> threading.Event:
        """Carry out the next request of ``operation`` at once, but hold its answer until the
        returned event is set: the write has happened, the caller has not heard."""
        gate = threading.Event()
        with self.lock:
            self._late_replies.append(Fault(None, operation=operation, gate=gate))
        return gate

    def _wait(self, fault: Fault) -> None:
        if fault.gate is None:
            self._stopping.wait(fault.delay)
            return
        while not fault.gate.wait(0.05) and not self._stopping.is_set():
            pass

    def enforce_limits(self, *limits: RateLimit) -> None:
        """Enforce these rate limits from now on (none: stop), with fresh windows and counts."""
        with self.lock:
            self.rate_limits = tuple(limits)
            self._windows.clear()
            self.limit_violations.clear()
            self._limit_accepted.clear()

    def vendor_limits(self, scale: float = 1.0) -> tuple[RateLimit, ...]:
        """The tracker's documented limits, each window multiplied by ``scale``."""
        return ()

    def limit_report(self) -> dict[str, Any]:
        with self.lock:
            return {
                "limits": [
                    limit.as_dict() | {"accepted": self._limit_accepted[i]} for i, limit in enumerate(self.rate_limits)
                ],
                "violations": len(self.limit_violations),
                "recent": self.limit_violations[-20:],
            }

    def arrivals(self, operation: str) -> int:
        """Requests of ``operation`` that reached the double, answered yet or not."""
        with self.lock:
            return self._arrivals[operation]

    @property
    def pending_faults(self) -> int:
        with self.lock:
            return len(self._faults)

    def calls(self, operation: str | None = None) -> list[LoggedRequest]:
        with self.lock:
            return [r for r in self.log if operation is None or r.operation == operation]

    def counts(self) -> Counter[str]:
        """Requests served per operation: the numbers in the README's API-call table."""
        with self.lock:
            return Counter(r.operation for r in self.log)

    def reset_log(self) -> None:
        with self.lock:
            self.log.clear()

    def assert_clean(self) -> None:
        with self.lock:
            violations = list(self.violations)
        if violations:
            raise AssertionError(
                f"{self.name} double got requests the real API would refuse:\n- " + "\n- ".join(violations)
            )

    # --- for subclasses -----------------------------------------------------------------------

    def _routes(self) -> None:
        raise NotImplementedError

    def route(self, rule: str, methods: list[str], view: Callable[..., Any]) -> None:
        self.app.add_url_rule(self.prefix + rule, endpoint=view.__name__, view_func=view, methods=methods)

    def spec_path(self, path: str) -> str:
        """The path as the description names it (the Jira double maps ``/rest/api/2`` to ``/3``)."""
        return path[len(self.prefix) :] if self.prefix and path.startswith(self.prefix) else path

    def spec_query(self, req: Request) -> ImmutableMultiDict[str, str]:
        """The query as the description's parameters are checked against it. A double takes out
        only a value the description documents elsewhere than in the parameter's own list (and
        says where, in its override); everything else is checked as sent."""
        return ImmutableMultiDict(req.args)

    def error_body(self, status: int, message: str) -> Any:
        return {"message": message}

    def authenticate(self, req: Request) -> str | None:
        """An error message when the credentials are wrong, else None."""
        return None

    def reply(self, status: int, data: Any = None, headers: Mapping[str, str] | None = None) -> Response:
        body = "" if data is None else json.dumps(data)
        response = Response(body, status=status, mimetype="application/json" if data is not None else None)
        for key, value in (headers or {}).items():
            response.headers[key] = value
        return response

    def error(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
        return self.reply(status, self.error_body(status, message), headers)

    def over_limit(self, limit: RateLimit, wait: float) -> Response:
        """How the tracker answers a request over ``limit``; the window has room again in ``wait`` s."""
        return self.error(429, "Too Many Requests", {"Retry-After": str(max(1, math.ceil(wait)))})

    def near_limit_headers(self) -> dict[str, str]:
        """Headers a tracker adds to an answer when a budget is nearly spent (Jira's)."""
        return {}

    def violation(self, text: str) -> None:
        with self.lock:
            self.violations.append(text)

    def json_body(self) -> Any:
        try:
            return request.get_json(force=True, silent=True)
        except Exception:  # noqa: BLE001 - any unreadable body is "no JSON"
            return None

    # --- the request pipeline -----------------------------------------------------------------

    def _check_limits(self) -> Response | None:
        """Count this request against every limit it falls under, or refuse it (a violation: the
        client sent it although the window was full). Arrival is stamped under the lock, so the
        windows see requests in the order they are judged."""
        if not self.rate_limits:
            return None
        credential = request.headers.get("Authorization", "")
        with self.lock:
            now = time.monotonic()
            applicable = [(i, lim) for i, lim in enumerate(self.rate_limits) if lim.applies_to(request.method)]
            refused: tuple[RateLimit, float] | None = None
            near = False
            for index, limit in applicable:
                window = self._windows.setdefault((index, credential), deque())
                while window and window[0] <= now - limit.window:
                    window.popleft()
                if len(window) >= limit.limit:
                    wait = window[len(window) - limit.limit] + limit.window - now
                    if refused is None or wait > refused[1]:
                        refused = (limit, wait)
                near = near or limit.limit - len(window) - 1 < 0.2 * limit.limit
            if refused is None:
                for index, _limit in applicable:
                    self._windows[(index, credential)].append(now)
                    self._limit_accepted[index] += 1
            else:
                self.limit_violations.append(
                    f"{request.method} {request.path}: over {refused[0].limit} {refused[0].name} per "
                    f"{refused[0].window:g} s (room again in {refused[1]:.3f} s)"
                )
        if refused is not None:
            return self.over_limit(*refused)
        if near:
            request.environ["double.near_limit"] = True
        return None

    def _before(self) -> Response | None:
        what = f"{request.method} {request.full_path.rstrip('?')}"
        over = self._check_limits()
        if over is not None:
            return over
        try:
            self.spec.validate_request(
                _SpecRequest(request, self.spec_server, self.spec_path(request.path), self.spec_query(request))
            )
        except (PathNotFound, OperationNotFound):
            self.violation(f"{what}: not in the API description")
            return self.error(404, "Not Found")
        except Exception as problem:  # noqa: BLE001 - every validation failure is reported the same way
            detail = str(problem)
            cause = getattr(problem, "__cause__", None)
            if cause is not None and str(cause) not in detail:
                detail += f" ({cause})"
            self.violation(f"{what}: {detail}")
            return self.error(400, detail)
        if request.url_rule is None:
            self.violation(f"{what}: valid, but this double does not know it")
            return self.error(404, "Not Found")
        unauthorized = self.authenticate(request)
        if unauthorized is not None:
            return self.error(401, unauthorized)
        with self.lock:
            self._arrivals[request.endpoint or ""] += 1
            index = next((i for i, f in enumerate(self._faults) if f.applies_to(request.endpoint or "")), None)
            fault = self._faults.pop(index) if index is not None else None
        if fault is None:
            return None
        self._wait(fault)
        if fault.status is None:
            return None
        headers = dict(fault.headers)
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        if fault.body is not None:
            return self.reply(fault.status, fault.body, headers)
        return self.error(fault.status, f"injected {fault.status}", headers)

    def _not_found(self, _error: Exception) -> Response:
        # reached only for requests that validated but match no route (handled in _before) or
        # for a route's own abort(404)
        return self.error(404, "Not Found")

    def _after(self, response: Response) -> Response:
        if request.environ.get("double.near_limit") and response.status_code < 300:
            for key, value in self.near_limit_headers().items():
                response.headers[key] = value
        body = request.get_json(force=True, silent=True) if request.get_data(cache=True) else None
        entry = LoggedRequest(
            method=request.method,
            path=request.path,
            operation=request.endpoint if request.url_rule is not None else "",
            status=response.status_code,
            headers=dict(request.headers),
            body=body,
            query={k: request.args.getlist(k) for k in request.args},
        )
        with self.lock:
            self.log.append(entry)
            index = next((i for i, f in enumerate(self._late_replies) if f.applies_to(entry.operation)), None)
            late = self._late_replies.pop(index) if index is not None else None
        if late is not None:
            self._wait(late)
        return response
