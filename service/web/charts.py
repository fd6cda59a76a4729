"""Charts drawn on the server as SVG: no JavaScript, nothing to load, readable by screen readers
(each chart has a title and its numbers in a table beside it). Colours come from the stylesheet
through class names (``s0``, ``s1``…), so the Content-Security-Policy needs no inline style.

Series are never told apart by colour alone (WCAG 1.4.1): the second and third bars are hatched,
each line has its own marker shape and dash, and the legend under the chart (HTML, so its text
keeps its size on a phone) shows the same hatch, marker and dash beside each name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 88, 12, 16, 36
"""LEFT holds a tick label such as ``0.75 h`` at the larger size a phone draws it."""
HATCHES = ("", "M0,8 L8,0", "M0,0 L8,8 M0,4 L8,4")
"""The fill of each bar series past the first, drawn over its colour: diagonal, then cross."""


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]  # None: no figure for that point


def bars(
    title: str, labels: Sequence[str], series: Sequence[Series], fmt: Callable[[float], str] = lambda v: f"{v:g}"
) -> Markup:
    """Grouped bars, one group per label."""
    top = _nice_max(max((v for s in series for v in s.values if v is not None), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    group_w = plot_w / max(1, len(labels))
    bar_w = max(1.0, group_w * 0.8 / max(1, len(series)))
    key = _key(title)
    parts = [_hatches(key, len(series)), _frame(title, top, fmt)]
    for i, label in enumerate(labels):
        x0 = LEFT + i * group_w + group_w * 0.1
        for j, one in enumerate(series):
            value = one.values[i] if i < len(one.values) else None
            if value is None:
                continue
            h = plot_h * value / top if top else 0
            parts.append(
                f'<rect class="bar {_class(j)}"{_fill(key, j)} x="{x0 + j * bar_w:.1f}" y="{TOP + plot_h - h:.1f}" '
                f'width="{bar_w:.1f}" height="{h:.1f}"><title>{escape(one.name)} {escape(label)}: '
                f"{escape(fmt(value))}</title></rect>"
            )
        parts.append(_x_label(LEFT + i * group_w + group_w / 2, label, i, len(labels)))
    keys = [
        f'<rect class="bar {_class(j)}"{_fill(key, j)} x="2" y="1" width="24" height="12"/>' for j in range(len(series))
    ]
    return _svg(title, parts) + _legend(series, keys)


def lines(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    fmt: Callable[[float], str] = lambda v: f"{v:g}",
    ceiling: float | None = None,
) -> Markup:
    """One line per series; a missing value breaks the line."""
    top = ceiling or _nice_max(max((v for s in series for v in s.values if v is not None), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(labels))
    parts = [_frame(title, top, fmt)]
    for j, one in enumerate(series):
        runs: list[list[tuple[float, float]]] = [[]]
        for i, value in enumerate(one.values):
            if value is None:
                runs.append([])
                continue
            x = LEFT + step * i + step / 2
            y = TOP + plot_h - (plot_h * min(value, top) / top if top else 0)
            runs[-1].append((x, y))
            parts.append(_marker(j, x, y, f"{one.name} {labels[i]}: {fmt(value)}"))
        for run in runs:
            if len(run) > 1:
                points = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                parts.append(f'<polyline class="line s{j}" points="{points}"/>')
    for i, label in enumerate(labels):
        parts.append(_x_label(LEFT + step * i + step / 2, label, i, len(labels)))
    keys = [f'<polyline class="line s{j}" points="0,7 28,7"/>{_marker(j, 14, 7)}' for j in range(len(series))]
    return _svg(title, parts) + _legend(series, keys)


def _svg(title: str, parts: list[str]) -> Markup:
    return Markup(  # every text in it went through escape()
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{"".join(parts)}</svg>'
    )


def _frame(title: str, top: float, fmt: Callable[[float], str]) -> str:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = []
    for k in range(5):
        value = top * k / 4
        y = TOP + plot_h - plot_h * k / 4
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(fmt(value))}</text>')
    return "".join(parts)


def _x_label(x: float, label: str, index: int, count: int) -> str:
    """Every label when they fit, else every ``count // 12``-th; of those, all but every third
    are ``minor``, left out on a phone where the text is drawn larger."""
    every = max(1, count // 12)
    if index % every:
        return ""
    minor = " minor" if (index // every) % 3 else ""
    anchor = "middle"
    if index == count - 1 and count > 1:  # the last one ends at the edge rather than past it
        x, anchor = WIDTH - 2, "end"
    y = HEIGHT - BOTTOM + 16
    return f'<text class="axis{minor}" x="{x:.1f}" y="{y}" text-anchor="{anchor}">{escape(label)}</text>'


def _key(title: str) -> str:
    """An id prefix for one chart's patterns, the same on every render and apart from the other charts'."""
    return "c" + hashlib.blake2b(title.encode(), digest_size=4).hexdigest()


def _hatches(key: str, count: int) -> str:
    patterns = [
        f'<pattern id="{key}-h{j}" width="8" height="8" patternUnits="userSpaceOnUse">'
        f'<rect class="s{j}" width="8" height="8"/><path class="hatch-line" d="{HATCHES[j % len(HATCHES)]}"/></pattern>'
        for j in range(1, count)
    ]
    return f"<defs>{''.join(patterns)}</defs>" if patterns else ""


def _class(series: int) -> str:
    """``s0`` is filled with its colour by the stylesheet; ``b1``, ``b2`` only outlined, since
    a stylesheet's fill would hide the hatch their ``fill`` attribute names."""
    return f"b{series}" if series else "s0"


def _fill(key: str, series: int) -> str:
    return f' fill="url(#{key}-h{series})"' if series else ""


def _marker(series: int, x: float, y: float, title: str = "") -> str:
    """A circle, a square or a triangle: the line's shape, whatever its colour."""
    hint = f"<title>{escape(title)}</title>" if title else ""
    shape = series % 3
    if shape == 0:
        return f'<circle class="marker s{series}" cx="{x:.1f}" cy="{y:.1f}" r="3.5">{hint}</circle>'
    if shape == 1:
        return f'<rect class="marker s{series}" x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7">{hint}</rect>'
    points = f"{x:.1f},{y - 4.5:.1f} {x + 4.5:.1f},{y + 3.5:.1f} {x - 4.5:.1f},{y + 3.5:.1f}"
    return f'<polygon class="marker s{series}" points="{points}">{hint}</polygon>'


def _legend(series: Sequence[Series], keys: Sequence[str]) -> Markup:
    """The series' names in HTML, each after its swatch: the same fill, marker and dash as in the chart."""
    items = "".join(
        f'<li><svg class="key" viewBox="0 0 28 14" aria-hidden="true">{key}</svg>{escape(one.name)}</li>'
        for one, key in zip(series, keys, strict=True)
    )
    return Markup(f'<ul class="legend">{items}</ul>')  # the names went through escape()


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1
    for scale in (1, 2, 2.5, 5, 10):
        magnitude = 10 ** (len(str(int(value))) - 1)
        if value <= scale * magnitude:
            return scale * magnitude
    return value
