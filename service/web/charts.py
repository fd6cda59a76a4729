"""Charts drawn on the server as SVG: no JavaScript, nothing to load, readable by screen readers
(each chart has a title and its numbers in a table beside it). Colours come from the stylesheet
through class names (``s0``, ``s1``…), so the Content-Security-Policy needs no inline style.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 16, 36


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
    parts = [_frame(title, top, fmt)]
    for i, label in enumerate(labels):
        x0 = LEFT + i * group_w + group_w * 0.1
        for j, one in enumerate(series):
            value = one.values[i] if i < len(one.values) else None
            if value is None:
                continue
            h = plot_h * value / top if top else 0
            parts.append(
                f'<rect class="s{j}" x="{x0 + j * bar_w:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}"><title>{escape(one.name)} {escape(label)}: {escape(fmt(value))}</title></rect>'
            )
        parts.append(_x_label(LEFT + i * group_w + group_w / 2, label, i, len(labels)))
    parts.append(_legend(series))
    return _svg(title, parts)


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
            parts.append(
                f'<circle class="s{j}" cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{escape(one.name)} '
                f"{escape(labels[i])}: {escape(fmt(value))}</title></circle>"
            )
        for run in runs:
            if len(run) > 1:
                points = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                parts.append(f'<polyline class="line s{j}" points="{points}"/>')
    for i, label in enumerate(labels):
        parts.append(_x_label(LEFT + step * i + step / 2, label, i, len(labels)))
    parts.append(_legend(series))
    return _svg(title, parts)


def _svg(title: str, parts: list[str]) -> Markup:
    return Markup(  # every text in it went through escape()
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT + 18}" role="img" aria-label="{escape(title)}" '
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
    every = max(1, count // 12)
    if index % every:
        return ""
    return f'<text class="axis" x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{escape(label)}</text>'


def _legend(series: Sequence[Series]) -> str:
    parts = []
    for j, one in enumerate(series):
        x = LEFT + j * 180
        parts.append(
            f'<rect class="s{j}" x="{x}" y="{HEIGHT + 4}" width="10" height="10"/>'
            f'<text class="legend" x="{x + 14}" y="{HEIGHT + 13}">{escape(one.name)}</text>'
        )
    return "".join(parts)


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1
    for scale in (1, 2, 2.5, 5, 10):
        magnitude = 10 ** (len(str(int(value))) - 1)
        if value <= scale * magnitude:
            return scale * magnitude
    return value
