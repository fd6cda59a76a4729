"""What every webhook source provides: a signature check and a pure parser.

Both take the raw body and the request headers and do no I/O, so they are tested on the
trackers' own sample payloads alone, and run again unchanged by the worker on a stored body.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service.domain.events import Event, Source, UnreadableBody
from service.trackers.signing import Verdict

Headers = Mapping[str, str]


@dataclass(frozen=True)
class WebhookSource:
    name: Source
    verify: Callable[[bytes, Headers, Sequence[str], Sequence[str]], Verdict]
    """(body, headers, webhook secrets, shared tokens) -> verdict. Runs before anything is parsed."""
    parse: Callable[[bytes, Headers], Event]
    """(body, headers) -> event; raises UnreadableBody."""
    delivery_id: Callable[[Headers, Event], str | None]
    """The tracker's id for this delivery, the same on every retry, or None if it sends none."""
    kept_headers: tuple[str, ...]
    """Headers stored with the body, so the worker can parse it again exactly as the web did."""


def header(headers: Headers, name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        for key, candidate in headers.items():
            if key.lower() == lowered:
                return candidate
    return value


def kept(headers: Headers, names: Sequence[str]) -> dict[str, str]:
    return {name: value for name in names if (value := header(headers, name)) is not None}


def load_object(body: bytes) -> dict[str, Any]:
    if not body:
        raise UnreadableBody("empty body")
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise UnreadableBody("body is not UTF-8") from None
    except json.JSONDecodeError as error:
        raise UnreadableBody(
            f"body is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except RecursionError:
        raise UnreadableBody("body is nested too deeply") from None
    except ValueError as error:
        # json.loads turns integer digits into an int, and Python refuses more than 4,300
        # digits (sys.get_int_max_str_digits) with a ValueError that is no JSONDecodeError
        raise UnreadableBody(f"body holds a value JSON parsing refuses: {_first_line(error)}") from None
    if not isinstance(data, dict):
        raise UnreadableBody(f"body is JSON but not an object (got {type(data).__name__})")
    return data


def _first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0][:200]


def obj(value: Any, what: str) -> dict[str, Any]:
    """``value`` as a JSON object, or a clear error naming the field."""
    if not isinstance(value, dict):
        raise UnreadableBody(f"{what} is missing or not an object")
    return value


def opt_obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def names(values: Any, key: str = "name") -> tuple[str, ...]:
    if not isinstance(values, list):
        return ()
    found = []
    for value in values:
        if isinstance(value, dict) and isinstance(value.get(key), str):
            found.append(value[key])
        elif isinstance(value, str):
            found.append(value)
    return tuple(found)
