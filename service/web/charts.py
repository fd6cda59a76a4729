"""Charts drawn on the server as SVG: no JavaScript, nothing to load, readable by screen readers
(each chart has a title and its numbers in a table beside it). Colours come from the stylesheet
through class names (``s0``, ``s1``…), so the Content-Security-Policy needs no inline style.

Series are never told apart by colour alone (WCAG 1.4.1): the second and third bars are hatched,
each line has its own marker shape and dash, and the legend under the chart (HTML, so its text
keeps its size on a phone) shows the same hatch, marker and dash beside each name.

Axes say their units: the value axis's unit above it, ``month (UTC)`` under the months, and its
ticks are whole numbers (a count of 2.5 reviews means nothing). A month the figures cover only
in part (the current one, or one the view's dates cut) is drawn on a dashed, shaded band that
the legend names, so a short bar is not read as a bad month.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 88, 12, 40, 64
"""LEFT holds a tick label such as ``1500`` at the larger size a phone draws it; TOP the value
axis's unit; BOTTOM the months and, under them, ``month (UTC)``."""
HATCHES = ("", "M0,8 L8,0", "M0,0 L8,8 M0,4 L8,4")
"""The fill of each bar series past the first, drawn over its colour: diagonal, then cross."""
MONTHS_AXIS = "month (UTC)"


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]  # None: no figure for that point


def _plain(value: float) -> str:
    """``12``, ``1500000``, ``2.5``: whole numbers whole, never in exponent form."""
    return str(int(value)) if value == int(value) else f"{value:.3g}"


def bars(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    unit: str,
    partial: Sequence[bool] = (),
    fmt: Callable[[float], str] = _plain,
) -> Markup:
    """Grouped bars, one group per label; ``fmt`` writes a value in the bars' tooltips."""
    scale = ticks(max((v for s in series for v in s.values if v is not None), default=0))
    top = scale[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    group_w = plot_w / max(1, len(labels))
    bar_w = max(1.0, group_w * 0.8 / max(1, len(series)))
    key = _key(title)
    parts = [_hatches(key, len(series)), _bands(labels, partial, group_w), _frame(scale, unit)]
    for i, label in enumerate(labels):
        x0 = LEFT + i * group_w + group_w * 0.1
        for j, one in enumerate(series):
            value = one.values[i] if i < len(one.values) else None
            if value is None:
                continue
            h = plot_h * value / top
            parts.append(
                f'<rect class="bar {_class(j)}"{_fill(key, j)} x="{x0 + j * bar_w:.1f}" y="{TOP + plot_h - h:.1f}" '
                f'width="{bar_w:.1f}" height="{h:.1f}"><title>{escape(one.name)} {escape(label)}: '
                f"{escape(fmt(value))}</title></rect>"
            )
        parts.append(_x_label(LEFT + i * group_w + group_w / 2, label, i, len(labels)))
    keys = [
        f'<rect class="bar {_class(j)}"{_fill(key, j)} x="2" y="1" width="24" height="12"/>' for j in range(len(series))
    ]
    return _svg(title, parts) + _legend(series, keys, any(partial))


def lines(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    unit: str,
    partial: Sequence[bool] = (),
    fmt: Callable[[float], str] = _plain,
    ceiling: float | None = None,
) -> Markup:
    """One line per series; a missing value breaks the line. ``ceiling``: the axis's top
    whatever the values (100 for a percentage)."""
    scale = ticks(ceiling or max((v for s in series for v in s.values if v is not None), default=0))
    top = scale[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(labels))
    parts = [_bands(labels, partial, step), _frame(scale, unit)]
    for j, one in enumerate(series):
        runs: list[list[tuple[float, float]]] = [[]]
        for i, value in enumerate(one.values):
            if value is None:
                runs.append([])
                continue
            x = LEFT + step * i + step / 2
            y = TOP + plot_h - plot_h * min(value, top) / top
            runs[-1].append((x, y))
            parts.append(_marker(j, x, y, f"{one.name} {labels[i]}: {fmt(value)}"))
        for run in runs:
            if len(run) > 1:
                points = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                parts.append(f'<polyline class="line s{j}" points="{points}"/>')
    for i, label in enumerate(labels):
        parts.append(_x_label(LEFT + step * i + step / 2, label, i, len(labels)))
    keys = [f'<polyline class="line s{j}" points="0,7 28,7"/>{_marker(j, 14, 7)}' for j in range(len(series))]
    return _svg(title, parts) + _legend(series, keys, any(partial))


def ticks(largest: float) -> list[float]:
    """The value axis: 0 and up to four equal steps above it, each step a whole number (1, 2
    or 5 times a power of ten, or 25 and the like), the top the first step at or above
    ``largest``. ``[0, 1]`` when there is nothing above 0."""
    if largest <= 0:
        return [0, 1]
    rough = largest / 4
    magnitude = 10 ** math.floor(math.log10(rough))
    step = 1.0
    for nice in (1, 2, 2.5, 5, 10):
        step = nice * magnitude
        if step >= rough and step >= 1 and step == int(step):
            break
    step = max(1.0, step)
    return [step * k for k in range(math.ceil(largest / step - 1e-9) + 1)]


def _svg(title: str, parts: list[str]) -> Markup:
    return Markup(  # every text in it went through escape()
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{"".join(parts)}</svg>'
    )


def _frame(scale: Sequence[float], unit: str) -> str:
    """Grid lines and tick labels at ``scale``, the value axis's unit above it and the months'
    axis named under them."""
    plot_h = HEIGHT - TOP - BOTTOM
    parts = []
    for value in scale:
        y = TOP + plot_h - plot_h * value / scale[-1]
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_plain(value)}</text>')
    parts.append(f'<text class="axis unit" x="{LEFT}" y="{TOP - 14}" text-anchor="start">{escape(unit)}</text>')
    middle = LEFT + (WIDTH - LEFT - RIGHT) / 2
    parts.append(f'<text class="axis unit" x="{middle:.1f}" y="{HEIGHT - 6}" text-anchor="middle">{MONTHS_AXIS}</text>')
    return "".join(parts)


def _bands(labels: Sequence[str], partial: Sequence[bool], width: float) -> str:
    """A dashed, shaded band behind each month the figures cover only in part."""
    plot_h = HEIGHT - TOP - BOTTOM
    return "".join(
        f'<rect class="partial" x="{LEFT + i * width:.1f}" y="{TOP}" width="{width:.1f}" height="{plot_h}">'
        f"<title>{escape(label)}: partial month</title></rect>"
        for i, (label, part) in enumerate(zip(labels, partial, strict=False))
        if part
    )


def _x_label(x: float, label: str, index: int, count: int) -> str:
    """Every label when they fit, else every ``count // 12``-th; of those, all but every third
    are ``minor``, left out on a phone where the text is drawn larger. Hung below the axis
    (``dominant-baseline: hanging``), so larger text grows away from it."""
    every = max(1, count // 12)
    if index % every:
        return ""
    minor = " minor" if (index // every) % 3 else ""
    anchor = "middle"
    if index == count - 1 and count > 1:  # the last one ends at the edge rather than past it
        x, anchor = WIDTH - 2, "end"
    y = HEIGHT - BOTTOM + 8
    return (
        f'<text class="axis{minor}" x="{x:.1f}" y="{y}" text-anchor="{anchor}" dominant-baseline="hanging">'
        f"{escape(label)}</text>"
    )


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


def _legend(series: Sequence[Series], keys: Sequence[str], partial: bool) -> Markup:
    """The series' names in HTML, each after its swatch: the same fill, marker and dash as in
    the chart; then the partial months' band, when one is drawn."""
    items = [
        f'<li><svg class="key" viewBox="0 0 28 14" aria-hidden="true">{key}</svg>{escape(one.name)}</li>'
        for one, key in zip(series, keys, strict=True)
    ]
    if partial:
        band = '<rect class="partial" x="1" y="1" width="26" height="12"/>'
        items.append(f'<li><svg class="key" viewBox="0 0 28 14" aria-hidden="true">{band}</svg>partial month</li>')
    return Markup(f'<ul class="legend">{"".join(items)}</ul>')  # the names went through escape()
