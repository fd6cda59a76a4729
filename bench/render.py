"""Lesson text to HTML: what one section costs, and that a hostile text costs in proportion to
its size (no pattern in the renderer can be made to backtrack).

    .venv/bin/python bench/render.py [--rounds 200]

Prints the median CPU milliseconds of ``service.web.render.lesson_html`` on a typical section
(about 60 words with a timeline, a task list, a URL and refs), on Jira wiki text, and on texts
of 10, 100 and 1,000 KB built to be the worst case for the ref finder and the autolinker
(refs, ref-like runs and URL-like runs back to back). No figure is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.web.render import lesson_html  # noqa: E402

TYPICAL = (
    "10:02 alert fired on the resolver\n10:05 paged the on-call\n10:20 rolled back the deploy\n\n"
    "The cache hid **timeouts** until it expired; see https://grafana.example/d/dns?from=now-6h and OPS-12, "
    "like github:acme/web#12 last spring.\n\n- [x] roll back\n- [ ] alert on lookups\n- [ ] add a runbook\n\n"
    "# Summary\nDeploys that change the resolver now go through a canary."
)
JIRA = "h2. Timeline\n10:02 alert fired\n10:05 paged\n\n* *bold* step\n* [runbook|https://wiki.example/r] OPS-12\n"
UNIT = "OPS-1 jira:OPS-2 github:a/b#3 x-OPS-4: https://a.example/ www.b.example c@d.example UTF-8 "


def cpu_ms(work: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.process_time()
        work()
        times.append((time.process_time() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=200)
    rounds = parser.parse_args().rounds

    def every_ref(found: set) -> dict[str, str]:
        return {one.ref: f"/lessons/{one.ref}" for one in found}

    print(
        f"typical section, refs resolved: {cpu_ms(lambda: lesson_html(TYPICAL, 'markdown', every_ref), rounds):.2f} ms"
    )
    print(f"typical section, no resolver:   {cpu_ms(lambda: lesson_html(TYPICAL, 'markdown'), rounds):.2f} ms")
    print(f"Jira wiki section:              {cpu_ms(lambda: lesson_html(JIRA, 'jira', every_ref), rounds):.2f} ms")
    for kilobytes in (10, 100, 1000):
        text = (UNIT * (kilobytes * 1024 // len(UNIT) + 1))[: kilobytes * 1024]
        took = cpu_ms(lambda text=text: lesson_html(text, "markdown", every_ref), max(1, rounds // kilobytes))
        print(f"{kilobytes:>5} KB of refs and URLs:      {took:9.1f} ms  ({took / kilobytes:.2f} ms per KB)")


if __name__ == "__main__":
    main()
