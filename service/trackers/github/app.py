"""Signing in to GitHub as a GitHub App: a JWT for the App, an installation token for the rest.

An installation token lives an hour. Every worker shares one per installation, kept in Redis and
renewed a few minutes before it expires by whichever worker needs it first (under a Redis lock,
so a storm of jobs renews it once), and once more at once when GitHub answers 401. Neither the
key, the JWT nor a token is ever logged or put in an error, and a token is kept in Redis only
sealed (Fernet, with a key derived from the marker key): whoever can read Redis reads no token
that writes to every repository of the installation.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import jwt
from cryptography.fernet import Fernet, InvalidToken
from redis import Redis

from service.text.markers import MarkerKeys
from service.trackers.errors import NotSent, PermanentTrackerError
from service.trackers.http.api import DEFAULT_TIMEOUT, HttpApi, MessageOf
from service.trackers.http.retry import RetryPolicy

RENEW_BEFORE_SECONDS = 300  # renew a token this long before GitHub's expires_at
JWT_LIFETIME_SECONDS = 540  # GitHub accepts at most 10 minutes
JWT_BACKDATE_SECONDS = 60  # against clock drift, as GitHub advises
INSTALLATION_CACHE_SECONDS = 24 * 3600
_APP_PATHS = re.compile(r"^/app(?:/.*)?$|^/repos/[^/]+/[^/]+/installation$")
_FORGET_IF_SAME = """
local raw = redis.call('GET', KEYS[1])
if raw and cjson.decode(raw)['id'] == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_REPO_PATH = re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)(?:/|$)")


class AppTokens:
    """The App's credentials and the installation tokens made from them."""

    def __init__(
        self,
        app_id: int,
        private_key: str,
        api_url: str,
        redis: Redis,
        message_of: MessageOf,
        installation_id: int | None = None,
        retry: RetryPolicy = RetryPolicy(),
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        *,
        keys: MarkerKeys,
    ) -> None:
        self.app_id = app_id
        self._key = private_key
        self._seal = Fernet(base64.urlsafe_b64encode(keys.derive("github-app-tokens")))
        self.redis = redis
        self.installation_id = installation_id
        headers = {
            "Accept": "application/vnd.github+json",
            "User-Agent": "lessonloop",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        self.api = HttpApi("github", api_url, headers, message_of, retry, timeout)
        self._app: dict[str, Any] | None = None
        self._prefix = f"lessonloop:github-app:{app_id}"
        self._forget_if_same = redis.register_script(_FORGET_IF_SAME)

    def __repr__(self) -> str:
        return f"AppTokens(app_id={self.app_id})"

    # --- what HttpApi asks --------------------------------------------------------------------

    def headers_for(self, path: str) -> Mapping[str, str]:
        """The Authorization header for one request: the App's JWT for the App's own paths, an
        installation token for everything else."""
        if _APP_PATHS.match(path):
            return {"Authorization": f"Bearer {self.app_jwt()}"}
        return {"Authorization": f"token {self.token(self.installation_for(path))}"}

    def refused(self, path: str, sent: Mapping[str, str]) -> None:
        """GitHub answered 401: the token sent is no good (revoked, or expired early). It is
        forgotten only if it is still the shared one: when eight workers hear 401 at once, the
        first renews and the other seven must not throw the new token away."""
        if _APP_PATHS.match(path):
            return
        key = self._token_key(self.installation_for(path))
        used = sent.get("Authorization", "").partition(" ")[2]
        self._forget_if_same(keys=[key], args=[_token_id(used)])

    # --- the App ------------------------------------------------------------------------------

    def app_jwt(self) -> str:
        now = int(time.time())
        claims = {"iat": now - JWT_BACKDATE_SECONDS, "exp": now + JWT_LIFETIME_SECONDS, "iss": str(self.app_id)}
        return jwt.encode(claims, self._key, algorithm="RS256")

    def app(self) -> dict[str, Any]:
        """``GET /app``: the App's slug and name (asked once per process)."""
        if self._app is None:
            data = self.api.json("app", "GET", "/app", headers={"Authorization": f"Bearer {self.app_jwt()}"})
            self._app = data if isinstance(data, dict) else {}
        return self._app

    def installation_for(self, path: str) -> int:
        """The configured installation, else the one installed on the path's repository."""
        if self.installation_id is not None:
            return self.installation_id
        match = _REPO_PATH.match(path)
        if match is None:
            raise NotSent(
                "github",
                "installation",
                f"no repository in {path} to find the App's installation by: set LESSONLOOP_GITHUB_APP_INSTALLATION_ID",
            )
        return self.installation_of(f"{match['owner']}/{match['repo']}")

    def installation_of(self, repository: str) -> int:
        key = f"{self._prefix}:installation:{repository.lower()}"
        cached = self.redis.get(key)
        if cached:
            return int(cached)
        installation = int(self._installation(repository)["id"])
        self.redis.set(key, installation, ex=INSTALLATION_CACHE_SECONDS)
        return installation

    def installation_permissions(self, repository: str) -> dict[str, str]:
        """What the App's installation on ``repository`` may do (``{"issues": "write", ...}``),
        from ``GET /repos/{owner}/{repo}/installation``: ``lessonloop check --online`` says
        when issues are not writable."""
        data = self._installation(repository)
        permissions = data.get("permissions") if isinstance(data, dict) else None
        return {str(k): str(v) for k, v in permissions.items()} if isinstance(permissions, dict) else {}

    def _installation(self, repository: str) -> Any:
        """``GET /repos/{owner}/{repo}/installation`` as the App; a 404 means the App is not
        installed there, and the error says so."""
        try:
            return self.api.json(
                "installation",
                "GET",
                f"/repos/{repository}/installation",
                headers={"Authorization": f"Bearer {self.app_jwt()}"},
            )
        except PermanentTrackerError as error:
            if error.status == 404:
                raise PermanentTrackerError(
                    "github", "installation", f"the GitHub App is not installed on {repository}", 404
                ) from None
            raise

    # --- installation tokens ------------------------------------------------------------------

    def token(self, installation: int) -> str:
        """A token for ``installation`` good for a few minutes more, renewed once across workers."""
        fresh = self._cached(installation)
        if fresh is not None:
            return fresh
        with self.redis.lock(f"{self._prefix}:renew:{installation}", timeout=30, blocking_timeout=30):
            fresh = self._cached(installation)  # another worker may have renewed it meanwhile
            if fresh is not None:
                return fresh
            data = self.api.json(
                "access token",
                "POST",
                f"/app/installations/{installation}/access_tokens",
                headers={"Authorization": f"Bearer {self.app_jwt()}"},
            )
            token = str(data["token"])
            expires = datetime.fromisoformat(str(data["expires_at"]).replace("Z", "+00:00")).timestamp()
            ttl = max(1, int(expires - time.time() - RENEW_BEFORE_SECONDS))
            sealed = self._seal.encrypt(token.encode()).decode()
            kept = {"id": _token_id(token), "sealed": sealed, "expires": expires}
            self.redis.set(self._token_key(installation), json.dumps(kept), ex=ttl)
            return token

    def _cached(self, installation: int) -> str | None:
        raw = self.redis.get(self._token_key(installation))
        if not raw:
            return None
        data = json.loads(raw)
        if data.get("expires", 0) - time.time() <= RENEW_BEFORE_SECONDS or "sealed" not in data:
            return None
        try:
            return self._seal.decrypt(str(data["sealed"]).encode()).decode()
        except InvalidToken:  # sealed under a marker key since rotated away: renewed instead
            return None

    def _token_key(self, installation: int) -> str:
        return f"{self._prefix}:token:{installation}"

    def repositories(self, installation: int) -> list[str]:
        """The repositories the installation can see (``check --online``)."""
        found: list[str] = []
        page = 1
        while True:
            data = self.api.json(
                "repositories",
                "GET",
                "/installation/repositories",
                params={"per_page": 100, "page": page},
                headers={"Authorization": f"token {self.token(installation)}"},
            )
            batch = [str(repo.get("full_name")) for repo in (data or {}).get("repositories") or []]
            found += batch
            if len(batch) < 100:
                return found
            page += 1


def _token_id(token: str) -> str:
    """What names a token in Redis without being it: for telling whether the one a 401 came
    back for is still the shared one."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]
