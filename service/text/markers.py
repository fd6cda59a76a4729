"""The marker lessonloop leaves in everything it writes to a tracker, and the MAC that makes it
lessonloop's alone.

A marker is a token ``lessonloop:<kind> key=value ... mac=<hex>``. It lets a retry after a crash
find what was already written, and lets the webhook parsers ignore lessonloop's own comments
and edits (no loops). Each tracker's dialect hides it as well as its markup allows
(``Dialect.attach``): an HTML comment on GitHub, a small grey footer line in Jira, a short
bracketed prefix on PagerDuty notes.

Anyone who can write in a tracker can also write text that looks like a marker, so the syntax
alone proves nothing. Every marker lessonloop writes carries an HMAC-SHA256 (truncated to 128
bits) over its kind, its attributes and *where* it is written: the item a comment sits on, or,
for a review created with its marker in the body before its number is known, the repository or
project (:func:`container_of`). A marker copied to another item, or with one attribute changed,
no longer verifies. Only :class:`MarkerKeys` can make or check the MAC; a marker that does not
verify is plain text for every purpose.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

# what lessonloop writes; the kind says which effect a marker stands for
REVIEW = "review"  # the body of a review ticket lessonloop opened
REVIEW_OPENED = "review-opened"  # the comment on an incident that says its review is open
LESSON = "lesson"  # the comment carrying a finished lesson
MISSING = "missing-sections"  # the comment that names what a lesson still lacks
REMINDER = "reminder"  # the nudge on a review past its due date
LINK = "link"  # a note or comment that only links two items
BLAME = "blame-nudge"  # the note on a review about sentences that put a person at the centre
FOLLOWUP = "followup"  # the body of a follow-up task lessonloop opened
FOLLOWUP_REMINDER = "followup-reminder"  # the weekly nudge on a follow-up past its due date

MAC = "mac"
"""The attribute that carries the MAC; it is not itself covered by the MAC."""
_MAC_HEX = 32  # 128 bits: forging one by guessing is out of reach, and it keeps the token short

_VALUE = r"[^\s<>{}\[\]\"']+"
_TOKEN = re.compile(rf"lessonloop:(?P<kind>[a-z][a-z-]*)(?P<attrs>(?:[ \t]+[a-z_]+={_VALUE})*)")
_ATTR = re.compile(rf"([a-z_]+)=({_VALUE})")


@dataclass(frozen=True)
class Marker:
    kind: str
    attrs: dict[str, str] = field(default_factory=dict)

    def token(self) -> str:
        parts = [f"lessonloop:{self.kind}"]
        for key, value in sorted(self.attrs.items()):
            if not re.fullmatch(_VALUE, value) or not re.fullmatch(r"[a-z_]+", key):
                raise ValueError(f"marker attribute {key}={value!r} cannot be written safely")
            parts.append(f"{key}={value}")
        return " ".join(parts)

    def get(self, key: str) -> str | None:
        return self.attrs.get(key)


class MarkerKeys:
    """The keys markers are signed with: the first signs, every one verifies (key rotation).

    Built from ``LESSONLOOP_MARKER_KEY`` (comma-separated) or from the key generated once and
    kept in the store; see :func:`service.store.instance.marker_keys`.
    """

    def __init__(self, keys: Sequence[str | bytes]) -> None:
        encoded = tuple(k.encode("utf-8") if isinstance(k, str) else bytes(k) for k in keys)
        if not encoded or any(not k for k in encoded):
            raise ValueError("marker keys must be non-empty")
        self._keys = encoded

    def __repr__(self) -> str:  # never show a key, not even in a traceback
        return f"MarkerKeys(<{len(self._keys)} key(s)>)"

    def derive(self, purpose: str) -> bytes:
        """32 bytes for ``purpose`` (say, sealing what lessonloop keeps in Redis), derived from
        the signing key with HKDF-SHA256: one secret to manage, and a key that signs nothing."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"lessonloop:{purpose}".encode()).derive(
            self._keys[0]
        )

    def seal(self, marker: Marker, where: str) -> Marker:
        """``marker`` with the MAC for being written at ``where`` (an item ref or a container)."""
        attrs = {k: v for k, v in marker.attrs.items() if k != MAC}
        attrs[MAC] = _mac(self._keys[0], marker.kind, attrs, where)
        return Marker(marker.kind, attrs)

    def verifies(self, marker: Marker, where: str) -> bool:
        """True when the marker's MAC is right for ``where`` under any of the keys."""
        given = marker.attrs.get(MAC, "")
        if len(given) != _MAC_HEX:
            return False
        attrs = {k: v for k, v in marker.attrs.items() if k != MAC}
        matched = False
        for key in self._keys:  # every key is tried: the time taken does not say which matched
            matched |= hmac.compare_digest(_mac(key, marker.kind, attrs, where), given)
        return matched

    def find(self, text: str | None, where: str, kind: str | None = None) -> list[Marker]:
        """The markers in ``text`` that verify for ``where`` (of one ``kind`` if given), in order."""
        return [m for m in find(text) if (kind is None or m.kind == kind) and self.verifies(m, where)]

    def find_kind(self, text: str | None, where: str, kind: str) -> Marker | None:
        found = self.find(text, where, kind)
        return found[0] if found else None


def _mac(key: bytes, kind: str, attrs: dict[str, str], where: str) -> str:
    message = "\n".join([kind, where, *(f"{k}={v}" for k, v in sorted(attrs.items()))])
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()[:_MAC_HEX]


def container_of(source: str, project: str) -> str:
    """Where a review's marker is written: ``github:acme/postmortems`` or ``jira:OPS``."""
    return f"{source}:{project}"


def find(text: str | None) -> list[Marker]:
    """Every marker-shaped token in ``text``, in order, verified or not: what the text *claims*.

    Only :meth:`MarkerKeys.find` says which of them lessonloop wrote."""
    if not text:
        return []
    found = []
    for match in _TOKEN.finditer(text):
        attrs = dict(_ATTR.findall(match.group("attrs")))
        found.append(Marker(match.group("kind"), attrs))
    return found


def find_kind(text: str | None, kind: str) -> Marker | None:
    """The first marker-shaped token of ``kind``: a claim, to be verified before it is believed."""
    for marker in find(text):
        if marker.kind == kind:
            return marker
    return None


_MARKER_COLON = re.compile(r"(lessonloop):(?=\S)", re.IGNORECASE)


def break_markers(text: str, colon: str = ": ") -> str:
    """``text`` in which nothing can be read as a lessonloop marker, in any case and anywhere (in
    code, in HTML comments, in URLs): the colon of every ``lessonloop:`` followed by anything but
    whitespace is written as ``colon`` instead. A marker is ``lessonloop:<kind>`` with nothing
    between, so any other ``colon`` breaks every token :func:`find` could find. Each markup's
    dialect says which ``colon`` shows the words as written there (``: `` in text, ``%3A`` in a
    URL, where a space cannot be)."""
    return _MARKER_COLON.sub(lambda found: found.group(1) + colon, text)


def looks_ours(text: str | None) -> bool:
    """True when the text carries something shaped like a marker. The webhook parsers use it to
    sort events cheaply; the worker verifies before it acts on one."""
    return bool(find(text))
