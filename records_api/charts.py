"""Server-rendered SVG charts: geometry computed here, drawn by templates, no JavaScript.

Every chart also carries its numbers as text (labels, <title> per mark, and a
table for screen readers), so it reads without JavaScript and without sight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

BAR_CHART_WIDTH = 560
BAR_HEIGHT = 22
BAR_GAP = 10
LABEL_WIDTH = 200
LINE_CHART_WIDTH = 720
LINE_CHART_HEIGHT = 220
PAD = 36


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    y: int
    width: float


@dataclass(frozen=True)
class BarChart:
    title: str
    bars: list[Bar]
    width: int = BAR_CHART_WIDTH
    height: int = 0
    label_width: int = LABEL_WIDTH


def bar_chart(title: str, rows: Sequence[tuple[str, int]]) -> BarChart:
    """Horizontal bars scaled to the largest value; zero-height data still draws its labels."""
    top = max((v for _, v in rows), default=0) or 1
    span = BAR_CHART_WIDTH - LABEL_WIDTH - 60
    bars = [
        Bar(label, value, i * (BAR_HEIGHT + BAR_GAP), round(span * value / top, 1))
        for i, (label, value) in enumerate(rows)
    ]
    return BarChart(title, bars, height=max(1, len(rows)) * (BAR_HEIGHT + BAR_GAP))


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    value: int
    label: str


@dataclass(frozen=True)
class Series:
    name: str
    css: str
    points: list[Point]

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x},{p.y}" for p in self.points)


@dataclass(frozen=True)
class LineChart:
    title: str
    series: list[Series]
    x_labels: list[Point]
    y_ticks: list[Point] = field(default_factory=list)
    width: int = LINE_CHART_WIDTH
    height: int = LINE_CHART_HEIGHT
    baseline: float = LINE_CHART_HEIGHT - PAD


def line_chart(
    title: str, labels: Sequence[str], series: Sequence[tuple[str, str, Sequence[int]]]
) -> LineChart:
    """Lines over shared x labels (e.g. days), y from 0 to the largest value."""
    top = max((v for _, _, values in series for v in values), default=0) or 1
    plot_w, plot_h = LINE_CHART_WIDTH - 2 * PAD, LINE_CHART_HEIGHT - 2 * PAD
    step = plot_w / max(1, len(labels) - 1)

    def x(i: int) -> float:
        return round(PAD + i * step, 1)

    def y(v: int) -> float:
        return round(PAD + plot_h - plot_h * v / top, 1)

    drawn = [
        Series(name, css, [Point(x(i), y(v), v, labels[i]) for i, v in enumerate(values)])
        for name, css, values in series
    ]
    ticks = [Point(PAD - 6, y(v), v, str(v)) for v in sorted({0, top // 2, top})]
    return LineChart(
        title, drawn, [Point(x(i), 0, 0, lab[5:]) for i, lab in enumerate(labels)], ticks
    )
