"""Adversarial text: the time every text pass takes on pathological input, per MB, and how it grows.

    .venv/bin/python bench/adversarial.py [--size 1000000] [--passes inert,convert,...]

Anyone who can write an issue, a comment or a lesson chooses the text lessonloop parses,
converts and repeats. Each shape below is a run of one construct that a careless regex or a
rescan would make quadratic. Each pass runs on ``--size`` bytes of each shape and on four times
that, and prints the seconds per MB and the ratio of the two times (about 4 means linear; 16
means quadratic). Every pass is run once on a few words first, so the figures hold no imports.
Times are the CPU time of the process doing the pass, so other work on a shared machine does not
inflate them (the wall time of a quiet machine is about the same). Goal (issue 23): under 0.5 s per MB for every shape and pass, and a ratio near
4. Pure CPU, one process; the figures are for this machine only.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from collections.abc import Callable
from multiprocessing.connection import Connection

from service import lesson
from service.lesson.blame import find_blame
from service.text.markup import convert
from service.trackers.github.markdown_write import inert_markdown
from service.trackers.jira.wiki_write import inert_jira

SHAPES: dict[str, str] = {
    "backslashes": "\\",
    "backticks": "`",
    "brackets": "[",
    "parentheses": "](",
    "emphasis runs": "*_",
    "nested lists": "- ",
    "made by": "made by ",
    "mentions": "@&#97;",
    "html comments": "<!--",
    "jira braces": "{",
    "table cells": "| ",
    "character references": "&#x",
    "long line": "the deploy went out at noon and ",
    "blame triggers": "Dave took the site it was Bob who ran without testing thanks to Ann lost as usual falls on Eve and deleted every ",
    "blame forms": "easy to say nobody in ops bothered to a more careful reviewer would Sam was supposed to and what was Bob thinking on Rahul's watch nice work Gemma offline Tom pushed a change that broke Fault: Eve ",
}
"""Each shape's repeated unit. A shape is one line with no newline (the worst case for
line-based passes) except ``nested lists``, whose unit is indented one more level each line."""


def shape_text(name: str, size: int) -> str:
    if name == "nested lists":
        lines, total, depth = [], 0, 0
        while total < size:
            line = "  " * (depth % 200) + "- item"
            lines.append(line)
            total += len(line) + 1
            depth += 1
        return "## What happened\n" + "\n".join(lines)
    unit = SHAPES[name]
    return "## What happened\n" + unit * (size // len(unit))


TEMPLATE = lesson.load_template(None)

PASSES: dict[str, Callable[[str], object]] = {
    "inert markdown": inert_markdown,
    "inert jira": inert_jira,
    "markdown to jira": lambda text: convert(text, "markdown", "jira"),
    "jira to markdown": lambda text: convert(text, "jira", "markdown"),
    "lesson parser": lambda text: lesson.parse_lesson(text, TEMPLATE),
    "blame check": find_blame,
    "blame check jira": lambda text: find_blame(text, "jira"),
    "lessons lint": lambda text: _lint(text),
}


def _lint(text: str) -> None:
    """``lessonloop lessons lint FILE`` as a user runs it, its output thrown away."""
    import contextlib
    import io
    import tempfile

    from service.entry.cli import main as cli

    with tempfile.NamedTemporaryFile("w", suffix=".md", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            cli(["lessons", "lint", handle.name])


def _run(pass_name: str, shape: str, size: int, answer: Connection) -> None:
    text = shape_text(shape, size)
    started = time.process_time()  # CPU seconds: other jobs on the machine do not count
    PASSES[pass_name](text)
    answer.send(time.process_time() - started)


def timed(pass_name: str, shape: str, size: int, limit: float) -> float | None:
    """Seconds for one call on ``size`` bytes of ``shape``, in a child process of its own; None
    when it ran past ``limit`` seconds (the child is then killed: a quadratic pass on 4 MB
    would run for hours)."""
    mine, theirs = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(target=_run, args=(pass_name, shape, size, theirs))
    child.start()
    took = mine.recv() if mine.poll(limit) else None
    child.kill()
    child.join()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="bytes of each shape (and 4x that)")
    parser.add_argument("--passes", default=",".join(PASSES), help="comma-separated names of passes")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated names of shapes")
    parser.add_argument("--limit", type=float, default=20.0, help="seconds one call on --size bytes may take")
    args = parser.parse_args()
    passes = [name.strip() for name in args.passes.split(",") if name.strip()]
    shapes = [name.strip() for name in args.shapes.split(",") if name.strip()]
    megabytes = args.size / 1_000_000
    for name in passes:  # imports, compiled patterns and the blame rules, loaded before any timing
        PASSES[name]("## What happened\nwarm up")
    print(f"{'pass':<18} {'shape':<22} {'s per MB':>9} {'4x ratio':>9}", flush=True)
    worst = 0.0
    for pass_name in passes:
        for shape in shapes:
            small = timed(pass_name, shape, args.size, args.limit)
            if small is None:
                worst = float("inf")
                print(f"{pass_name:<18} {shape:<22} {'> ' + str(round(args.limit / megabytes)):>9} {'-':>9}  <-- over")
                continue
            large = timed(pass_name, shape, args.size * 4, args.limit * 4)
            per_mb = small / megabytes
            worst = max(worst, per_mb)
            ratio = f"{large / small:.1f}" if large is not None and small > 0 else "-"
            flag = "" if per_mb < 0.5 and large is not None and large / max(small, 1e-9) < 6 else "  <-- over"
            print(f"{pass_name:<18} {shape:<22} {per_mb:>9.3f} {ratio:>9}{flag}", flush=True)
    print(f"worst: {worst:.3f} s per MB")


if __name__ == "__main__":
    main()
