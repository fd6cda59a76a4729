"""HMAC-SHA256 checks shared by the sources, compared in constant time on the raw body."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""


ACCEPTED = Verdict(True)


def hex_digest(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def any_matches(secrets: Iterable[str], body: bytes, signatures: Iterable[str]) -> bool:
    """True when any signature equals the HMAC of the body under any secret.

    Every pair is compared (no early exit), so the time taken says nothing about which secret
    or how much of a signature matched.
    """
    wanted = [hex_digest(secret, body).encode() for secret in secrets]
    matched = False
    for signature in signatures:
        given = signature.strip().lower().encode("ascii", "replace")
        for digest in wanted:
            matched |= hmac.compare_digest(digest, given)
    return matched


def token_matches(tokens: Iterable[str], given: str) -> bool:
    matched = False
    given_bytes = given.strip().encode("utf-8", "replace")
    for token in tokens:
        matched |= hmac.compare_digest(token.encode("utf-8"), given_bytes)
    return matched
