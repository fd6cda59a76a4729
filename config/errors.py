"""A settings mistake in one line: pydantic's first error, named as the operator wrote it (the
environment variable, or the file's ``table.key`` or ``rules[N].field``) and said as the
settings' documentation says it."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from config.rules import Rule


class SettingsError(Exception):
    """A missing or wrong setting. ``str()`` is one line that names the setting."""


_MESSAGES = {
    "tuple_type": "must be a list of strings",
    "list_type": "must be a list of strings",
    "string_type": "must be a string",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "dict_type": "must be a table",
    "model_type": "must be a table",
    "missing": "is required",
}


def _in_our_words(root: type[BaseModel], kind: str, message: str, loc: tuple[Any, ...]) -> str:
    """pydantic's message, said as the settings' documentation says it: an unknown key with the
    closest known one, a type by what the operator writes in TOML."""
    if kind == "extra_forbidden":
        known = _known_keys(root, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        return "unknown key" + (f" (did you mean '{close[0]}'?)" if close else "")
    if kind in _MESSAGES:
        if kind in ("string_type", "int_type", "int_parsing") and loc and isinstance(loc[-1], int):
            return _MESSAGES["tuple_type"]  # an item of a list: say what the list holds
        return _MESSAGES[kind]
    return message.removeprefix("Value error, ")


def _known_keys(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys the table at ``loc`` (a path into ``root``, list indexes included) accepts."""
    model: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if part == "rules":
            model = Rule
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            return []
    names = set(model.model_fields)
    names |= {field.alias for field in model.model_fields.values() if field.alias}
    return sorted(names)


def one_line(error: ValidationError, root: type[BaseModel], path: Path, from_env: Mapping[tuple[str, ...], str]) -> str:
    """The first problem in validating ``root`` (the settings), named as the operator wrote it:
    the environment variable when the value came from there, else the file's key."""
    first = error.errors()[0]
    message = _in_our_words(root, first["type"], first["msg"], first["loc"])
    raw_loc = first["loc"][:-1] if first["loc"] and isinstance(first["loc"][-1], int) else first["loc"]
    loc = tuple(str(part) for part in raw_loc)  # a list's item is named by its list
    if "LESSONLOOP_" in message:
        return message
    if message.startswith("rules["):
        return f"{path}: {message}"
    name = from_env.get(loc)
    if name is None and loc and loc[0] == "rules" and len(loc) > 1:
        name = f"{path}: rules[{int(loc[1]) + 1}]" + ("." + ".".join(loc[2:]) if loc[2:] else "")
    elif name is None and loc:
        name = f"{path}: " + ".".join(loc)
    elif name is None:
        return message
    return f"{name}: {message}"
