"""Copying benchmark: what making copied text inert costs per lesson, and on hostile input.

    .venv/bin/python bench/copying.py [--repeat 200]

Times ``service.text.markup.convert`` in every direction on a realistic five-section lesson (about
2.7 kB: headings, emphasis, links, lists, a table, a code block, mentions) and on 60 kB lines of
unclosed or dangerous markup, the kind of text a hostile ticket holds. Prints the median time per
call. Pure CPU, one process; the figures are for this machine only.
"""

from __future__ import annotations

import argparse
import statistics
import time

from service.text.markup import convert

SECTION_MD = """The **canary** read `latency` only, so the rollout went on: 40 minutes of 502s.
@ana and @acme/sre were paged; see [the runbook](https://wiki.example.com/rb) and <https://status.example.com>.

- the pool was set to 5 by the deploy
  - nothing compared config to the last good one
1. add a config diff to the deploy
2. alert on pool saturation

> The dashboard looked green because it averaged over all regions.

| signal | seen |
|---|---|
| latency | yes |
| errors | no |

```bash
kubectl rollout undo deploy/checkout
```
"""
SECTION_JIRA = convert(SECTION_MD, "markdown", "jira")
LESSON = {
    "markdown": "\n\n".join(f"## Section {n}\n\n{SECTION_MD}" for n in range(5)),
    "jira": "\n\n".join(f"h2. Section {n}\n\n{SECTION_JIRA}" for n in range(5)),
}
HOSTILE = {
    "mentions": "@octocat [~admin] " * 3_500,
    "html": "<img src=x onerror=1> " * 2_700,
    "links": "[x](javascript:alert(1)) [y|javascript:z] " * 1_400,
    "macros": "{html}{color:red}{panel} " * 2_500,
    "unclosed": "[a|b *c `d {{e " * 4_000,
    "markers": "lessonloop:review incident=x " * 2_100,
}
DIRECTIONS = [
    ("markdown", "markdown"),
    ("markdown", "jira"),
    ("markdown", "plain"),
    ("jira", "jira"),
    ("jira", "markdown"),
    ("jira", "plain"),
]


def median_ms(text: str, source: str, target: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        convert(text, source, target)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    print(f"lesson: {len(LESSON['markdown'])} characters (Markdown), {len(LESSON['jira'])} (Jira)")
    for source, target in DIRECTIONS:
        print(f"  {source:>8} -> {target:<8} {median_ms(LESSON[source], source, target, args.repeat):7.2f} ms")
    print("hostile lines, median over markdown->markdown, markdown->jira, jira->jira, jira->markdown:")
    for name, line in HOSTILE.items():
        worst = max(median_ms(line, s, t, max(3, args.repeat // 20)) for s, t in DIRECTIONS if t != "plain")
        print(f"  {name:<9} {len(line):6d} characters: worst direction {worst:7.1f} ms")


if __name__ == "__main__":
    main()
