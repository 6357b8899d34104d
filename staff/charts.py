"""Geometry for small server-rendered SVG bar charts (the template draws them; no JavaScript).

Every bar carries its exact value, so the page (and a test) can read the numbers back.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    key: str  # e.g. the ISO day or a country code
    label: str  # short axis label ("" to skip)
    value: int
    title: str  # tooltip text


@dataclass(frozen=True)
class Tick:
    y: float
    value: int


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    plot_left: int
    plot_bottom: float
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    max_value: int


def _nice_max(value: int) -> int:
    """A round axis maximum >= value (1, 2, 5 × 10^n)."""
    if value <= 0:
        return 1
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def vertical_bars(
    points: list[tuple[str, str, int, str]],
    *,
    width: int = 640,
    height: int = 170,
    left: int = 56,
    top: int = 8,
    bottom: int = 22,
    gap: float = 2.0,
) -> Chart:
    """points: [(key, axis label, value, tooltip)] left to right."""
    plot_width = width - left - 4
    plot_height = height - top - bottom
    axis_max = _nice_max(max((p[2] for p in points), default=0))
    slot = plot_width / max(len(points), 1)
    bars = []
    for index, (key, label, value, title) in enumerate(points):
        bar_height = plot_height * value / axis_max if value > 0 else 0.0
        bars.append(
            Bar(
                x=round(left + index * slot + gap / 2, 2),
                y=round(top + plot_height - bar_height, 2),
                width=round(max(slot - gap, 1.0), 2),
                height=round(bar_height, 2),
                key=key,
                label=label,
                value=value,
                title=title,
            )
        )
    ticks = tuple(Tick(round(top + plot_height - plot_height * f, 2), round(axis_max * f)) for f in (0, 0.5, 1))
    return Chart(width, height, left, top + plot_height, tuple(bars), ticks, axis_max)


def horizontal_bars(
    points: list[tuple[str, str, int, str]], *, width: int = 640, row: int = 22, left: int = 180, right: int = 140
) -> Chart:
    """points: [(key, label, value, tooltip)] top to bottom; labels drawn left of the bars."""
    axis_max = _nice_max(max((p[2] for p in points), default=0))
    plot_width = width - left - right
    bars = tuple(
        Bar(
            x=left,
            y=index * row + 3,
            width=round(plot_width * value / axis_max, 2) if value > 0 else 0.0,
            height=row - 6,
            key=key,
            label=label,
            value=value,
            title=title,
        )
        for index, (key, label, value, title) in enumerate(points)
    )
    return Chart(width, max(len(points), 1) * row, left, 0, bars, (), axis_max)
