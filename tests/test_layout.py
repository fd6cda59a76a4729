"""The code's shape, read from its imports: every module under config/, service/ and workers/,
parsed with ``ast``. Imports anywhere in a module count (at its top, in a function, under
``TYPE_CHECKING``), so an import moved into a function hides nothing. Checked:

- no import cycle between modules, except among ``service.web.*``, whose blueprint imports the
  route modules that register themselves on it;
- no module imports a layer above its own (:data:`LAYERS`, by module prefix, so a module moved
  into a new folder under a layer keeps its place);
- a pure module (:data:`PURE`) reaches, through no chain of imports (a package's ``__init__``
  included, since importing a module runs it), a store, the runtime, or requests, urllib3,
  SQLAlchemy, Redis or RQ. A tracker client always brings requests, so that finds clients too;
- no module is over :data:`MAX_LINES` lines.

What is known to break these today, and is being fixed on other branches, is listed in the
``KNOWN_*`` tables with the reason. A listed violation that is gone fails the last test, so the
lists only shrink: delete its line."""

from __future__ import annotations

import ast
import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("config", "service", "workers")
MAX_LINES = 400

LAYERS: tuple[tuple[str, ...], ...] = (
    # lowest first; a module may import its own layer and those below it
    ("config",),  # settings and rules models: import nothing of ours but config
    ("service.infra",),  # logs, counters, queue, breaker, failures
    ("service.domain", "service.text", "service.lesson"),  # pure, with the pure tracker modules
    ("service.store",),
    ("service.trackers",),  # the API clients
    ("service.loop", "service.learning"),
    ("service.infra.runtime",),  # builds the store's engine, Redis and the clients
    ("service.web", "service.receive", "workers"),
    ("service.entry",),  # what a command or a server starts; nothing imports it
)
"""By module prefix: the longest prefix that names a module decides its layer."""

UNLAYERED = {"service"}
"""The namespace package itself: empty, and nothing imports it bare."""

PURE = ("service.domain", "service.text", "service.lesson")
PURE_TRACKER_MODULE = re.compile(
    r"^service\.trackers\.(registry|dialect|signing|webhook"
    r"|\w+\.(webhook|dialect|refs|fields|timeline|changelog|\w+_read|\w+_write))$"
)
"""A tracker's own folder (``service/trackers/<name>/``) holds its webhook parser, its markup
dialect and its ref formats beside its client, and the registry of trackers names them: those
are pure and sit in the pure layer; the client and the HTTP layer are not."""

IO_PACKAGES = frozenset({"requests", "urllib3", "sqlalchemy", "redis", "rq"})
IMPURE_PREFIXES = ("service.store", "service.infra.runtime")

WEB_BLUEPRINT = "service.web"

KNOWN_UPWARD: dict[tuple[str, str], str] = {}
KNOWN_IMPURE: dict[tuple[str, str], str] = {}
"""(pure module, what it reaches): none today."""
KNOWN_OVERSIZED: dict[str, str] = {}


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    imports: frozenset[str]  # our modules it imports
    packages: frozenset[str]  # the other packages it imports, by top-level name
    lines: int


def read_modules(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, Module]:
    """Every module under ``root``'s ``packages``, with what it imports."""
    paths: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            paths[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return {name: _read(name, path, paths) for name, path in paths.items()}


def _read(name: str, path: Path, known: Mapping[str, Path]) -> Module:
    text = path.read_text(encoding="utf-8")
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: list[str] = []
    for node in ast.walk(ast.parse(text, filename=str(path))):
        if isinstance(node, ast.Import):
            targets += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if base else anchor
            # ``from package import module`` imports the module; ``from module import name``, the module
            targets += [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
    ours: set[str] = set()
    others: set[str] = set()
    for target in targets:
        found = target
        while found and found not in known:
            found = found.rpartition(".")[0]
        if found:
            ours.add(found)
        else:
            others.add(target.split(".")[0])
    return Module(name, path, frozenset(ours - {name}), frozenset(others), len(text.splitlines()))


def layer_of(name: str) -> tuple[int, str] | None:
    """(rank, prefix) of the module's layer, or None when no prefix in :data:`LAYERS` names it."""
    if PURE_TRACKER_MODULE.match(name):
        return next(rank for rank, prefixes in enumerate(LAYERS) if PURE[0] in prefixes), "service.trackers (pure)"
    best: tuple[int, str] | None = None
    for rank, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if _within(name, prefix) and (best is None or len(prefix) > len(best[1])):
                best = (rank, prefix)
    return best


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def is_pure(name: str) -> bool:
    return any(_within(name, prefix) for prefix in PURE) or bool(PURE_TRACKER_MODULE.match(name))


def cycles(modules: Mapping[str, Module]) -> list[list[str]]:
    """Each group of modules that import each other (Tarjan's strongly connected components),
    as one cycle through the group, starting from its first module by name."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        on_stack.add(name)
        for target in sorted(modules[name].imports):
            if target not in index:
                visit(target)
                low[name] = min(low[name], low[target])
            elif target in on_stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == name:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for name in sorted(modules):
        if name not in index:
            visit(name)
    return [_cycle_through(modules, group) for group in sorted(groups)]


def _cycle_through(modules: Mapping[str, Module], group: list[str]) -> list[str]:
    """A shortest path from the group's first module back to itself, inside the group."""
    start, members = group[0], set(group)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        name = queue.popleft()
        for target in sorted(modules[name].imports & members):
            if target == start:
                path = [name]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if target not in came_from:
                came_from[target] = name
                queue.append(target)
    return group


def upward_imports(modules: Mapping[str, Module]) -> dict[tuple[str, str], str]:
    """(importer, imported) -> "its layer -> the higher layer", for every import that goes up."""
    found = {}
    for name, module in modules.items():
        own = layer_of(name)
        for target in module.imports:
            theirs = layer_of(target)
            if own is not None and theirs is not None and theirs[0] > own[0]:
                found[(name, target)] = f"{own[1]} -> {theirs[1]}"
    return found


def impure_reach(modules: Mapping[str, Module], name: str) -> dict[str, list[str]]:
    """What the pure module ``name`` reaches that it must not (a store, the runtime, an I/O
    package), each with the chain of imports that gets there. A package's ``__init__`` runs
    whenever one of its modules is imported, so it is followed too; a package reached only so
    counts for what its ``__init__`` imports, not for its name."""
    came_from: dict[str, str] = {}
    as_parent: set[str] = set()
    queue = deque([name])
    found: dict[str, list[str]] = {}
    while queue:
        current = queue.popleft()
        chain = [current]
        while chain[-1] != name:
            chain.append(came_from[chain[-1]])
        chain.reverse()
        for package in sorted(modules[current].packages & IO_PACKAGES):
            found.setdefault(package, chain)
        if current not in as_parent and any(_within(current, prefix) for prefix in IMPURE_PREFIXES):
            found.setdefault(current, chain)
        parents = {current.rsplit(".", depth)[0] for depth in range(1, current.count(".") + 1)} & modules.keys()
        for target in sorted(modules[current].imports | parents):
            if target != name and target not in came_from:
                came_from[target] = current
                if target not in modules[current].imports:
                    as_parent.add(target)
                queue.append(target)
    return found


def oversized(modules: Mapping[str, Module], root: Path) -> dict[str, int]:
    return {str(module.path.relative_to(root)): module.lines for module in modules.values() if module.lines > MAX_LINES}


def _modules() -> dict[str, Module]:
    return read_modules(ROOT)


def test_every_module_has_a_layer() -> None:
    assert [name for name in sorted(_modules()) if layer_of(name) is None and name not in UNLAYERED] == [], (
        "add its prefix to LAYERS"
    )


def test_no_import_cycles_outside_the_web_blueprint() -> None:
    found = [cycle for cycle in cycles(_modules()) if not all(_within(name, WEB_BLUEPRINT) for name in cycle)]
    assert [" -> ".join(cycle) for cycle in found] == [], (
        "move what both sides need into a module both import; an import inside a function counts too"
    )


def test_no_module_imports_a_layer_above_its_own() -> None:
    found = upward_imports(_modules())
    new = {f"{a} imports {b} ({why})" for (a, b), why in found.items() if (a, b) not in KNOWN_UPWARD}
    assert sorted(new) == [], "a layer may import only its own and lower ones (LAYERS)"


def test_pure_modules_reach_no_store_runtime_client_or_io_package() -> None:
    modules = _modules()
    new = [
        f"{name} reaches {what}: {' -> '.join(chain)}"
        for name in sorted(modules)
        if is_pure(name)
        for what, chain in impure_reach(modules, name).items()
        if (name, what) not in KNOWN_IMPURE
    ]
    assert new == [], "pure modules take what they need as arguments; the I/O stays at the edges"


def test_no_module_is_over_the_line_limit() -> None:
    found = oversized(_modules(), ROOT)
    assert {path: lines for path, lines in found.items() if path not in KNOWN_OVERSIZED} == {}, (
        f"split it by concern: at most {MAX_LINES} lines a module"
    )


def test_every_known_violation_is_still_there() -> None:
    """An entry whose violation is fixed is deleted, so that it cannot come back unseen."""
    modules = _modules()
    upward = upward_imports(modules)
    big = oversized(modules, ROOT)
    stale = [f"KNOWN_UPWARD {pair}" for pair in KNOWN_UPWARD if pair not in upward]
    stale += [f"KNOWN_IMPURE {pair}" for pair in KNOWN_IMPURE if pair[1] not in impure_reach(modules, pair[0])]
    stale += [f"KNOWN_OVERSIZED {path}" for path in KNOWN_OVERSIZED if path not in big]
    assert stale == [], "fixed: delete these entries from tests/test_layout.py"


def test_the_checks_see_what_a_lazy_or_relative_import_hides(tmp_path: Path) -> None:
    """The checks themselves, on a small tree: a cycle closed by an import inside a function, an
    upward import written relative, a pure module that reaches SQLAlchemy through a package's
    ``__init__``, and a long module are each found."""
    files = {
        "config/__init__.py": "",
        "config/rules.py": "def rule():\n    from service.domain import events\n",  # lazy and upward
        "service/__init__.py": "",
        "service/domain/__init__.py": "",
        "service/domain/events.py": "from config import rules\nfrom ..text import words\n",  # the cycle's other half
        "service/text/__init__.py": "from service.store import engine\n",
        "service/text/words.py": "",
        "service/store/__init__.py": "",
        "service/store/engine.py": "import sqlalchemy.orm\n",
        "workers/__init__.py": "",
        "workers/long.py": "x = 1\n" * (MAX_LINES + 1),
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    modules = read_modules(tmp_path)

    assert cycles(modules) == [["config.rules", "service.domain.events", "config.rules"]]
    assert upward_imports(modules) == {
        ("config.rules", "service.domain.events"): "config -> service.domain",
        ("service.text", "service.store.engine"): "service.text -> service.store",
    }
    assert impure_reach(modules, "service.text.words") == {
        "service.store.engine": ["service.text.words", "service.text", "service.store.engine"],
        "sqlalchemy": ["service.text.words", "service.text", "service.store.engine"],
    }
    assert oversized(modules, tmp_path) == {"workers/long.py": MAX_LINES + 1}
