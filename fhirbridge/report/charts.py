"""The geometry of the report's charts (positions and sizes in SVG user units); the templates only draw it.

Keeping the arithmetic here, apart from the markup, lets tests check a chart's shapes as numbers and keeps the
templates free of computation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fhirbridge.report.statistics import AIS_GRADES, Series, ShiftTable, TimelineEvent

#: One colour per AIS grade (A darkest, E lightest), and for grades that are not one letter.
GRADE_COLOURS = {"A": "#7f1d1d", "B": "#c2410c", "C": "#ca8a04", "D": "#65a30d", "E": "#0e7490"}
OTHER_COLOUR = "#6b7280"
SEVERITY_COLOURS = {"mild": "#ca8a04", "moderate": "#c2410c", "severe": "#7f1d1d"}
EVENT_COLOURS = {"harvest": "#1d4ed8", "infusion": "#047857"}
BAND_COLOUR = "#bfdbfe"  # the middle half of all subjects' values, behind the lines


def grade_colour(grade: str) -> str:
    return GRADE_COLOURS.get(grade, OTHER_COLOUR)


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str  # the tooltip a person sees on hovering


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "middle"
    style: str = ""  # a class of the stylesheet: "inside" (white, on a bar), "vertical" (an axis title)


@dataclass
class Chart:
    """What a template draws: rectangles, lines (as SVG path data), labels and a legend."""

    width: float
    height: float
    title: str
    rects: list[Rect] = field(default_factory=list)
    paths: list[tuple[str, str, float, str]] = field(default_factory=list)  # d, colour, stroke width, title
    areas: list[tuple[str, str, str]] = field(default_factory=list)  # d of a closed shape, colour, title
    points: list[tuple[float, float, str, str]] = field(default_factory=list)  # x, y, colour, title
    labels: list[Label] = field(default_factory=list)
    axes: list[tuple[float, float, float, float]] = field(default_factory=list)  # x1, y1, x2, y2
    legend: list[tuple[str, str]] = field(default_factory=list)  # colour, text


_LEFT, _TOP, _BOTTOM = 48.0, 16.0, 44.0


def shift_chart(tables: list[ShiftTable], bar_width: float = 34.0, plot_height: float = 180.0) -> Chart:
    """Stacked bars: for each later visit, one bar per baseline grade, split by the grade at that visit."""
    most = max((t.row_total(b) for t in tables for b in t.baselines), default=0) or 1
    unit = plot_height / most
    chart = Chart(width=0, height=_TOP + plot_height + _BOTTOM + 16,
                  title="AIS grade at each later visit, one bar per grade at the first exam")
    x = _LEFT + 12
    base = _TOP + plot_height
    followups: set[str] = set()
    for table in tables:
        group_start = x
        for baseline in table.baselines:
            y = base
            for followup in table.followups:
                n = table.count(baseline, followup)
                if not n:
                    continue
                followups.add(followup)
                y -= n * unit
                chart.rects.append(Rect(x, round(y, 2), bar_width, round(n * unit, 2), grade_colour(followup),
                                        f"{table.visit}: baseline {baseline} → {followup}: {n}"))
                if n * unit >= 14:  # the count inside its segment where it fits
                    chart.labels.append(Label(x + bar_width / 2, round(y + n * unit / 2 + 4, 2), str(n), "middle",
                                              "inside"))
            chart.labels.append(Label(x + bar_width / 2, base + 14, baseline))
            x += bar_width + 6
        chart.labels.append(Label((group_start + x - 6) / 2, base + 30, table.visit))
        x += 24
    chart.width = x + 8
    chart.axes = [(_LEFT, _TOP, _LEFT, base), (_LEFT, base, x, base)]
    chart.labels.extend(Label(_LEFT - 6, round(base - n * unit + 4, 2), str(n), "end") for n in _ticks(most))
    chart.labels.append(Label(12, _TOP + plot_height / 2, "subjects", "middle", "vertical"))
    grades = [*AIS_GRADES, *sorted(followups - set(AIS_GRADES))]
    chart.legend = [(grade_colour(g), f"AIS {g} at the visit") for g in grades if g in followups]
    return chart


def line_chart(series: Series, width: float = 420.0, plot_height: float = 160.0) -> Chart:
    """Each subject's values over visits as thin lines, the median as a thick one; y from 0 to the maximum."""
    chart = Chart(width=width, height=_TOP + plot_height + _BOTTOM, title=f"{series.label} by visit")
    base = _TOP + plot_height
    step = (width - _LEFT - 56) / max(len(series.visits) - 1, 1)

    def xy(i: int, value: float) -> tuple[float, float]:
        return round(_LEFT + 12 + i * step, 2), round(base - value / series.maximum * plot_height, 2)

    if series.shown < series.total:  # lines of some subjects only: the middle half of all values as a band
        chart.areas.extend(_bands(series.quartiles, xy, f"25th to 75th percentile of all {series.total}"))
    for subject, values in series.by_subject.items():
        d = _path([(i, v) for i, v in enumerate(values)], xy)
        if d:
            chart.paths.append((d, "#9ca3af", 1.0, f"subject {subject}"))
    medians = series.medians
    d = _path(list(enumerate(medians)), xy)
    if d:
        chart.paths.append((d, "#1d4ed8", 3.0, "median"))
    for i, value in enumerate(medians):
        if value is not None:
            chart.points.append((*xy(i, value), "#1d4ed8", f"{series.visits[i]}: median {value:g}"))
    chart.axes = [(_LEFT, _TOP, _LEFT, base), (_LEFT, base, width - 8, base)]
    chart.labels.extend(Label(xy(i, 0)[0], base + 16, visit) for i, visit in enumerate(series.visits))
    chart.labels.extend(Label(_LEFT - 6, xy(0, n)[1] + 4, str(n), "end")
                        for n in (0, series.maximum // 2, series.maximum))
    each = "each subject" if series.shown == series.total else f"each of the first {series.shown} subjects"
    chart.legend = [("#9ca3af", each), ("#1d4ed8", "median" if series.shown == series.total
                                        else f"median of all {series.total}")]
    if chart.areas:
        chart.legend.append((BAND_COLOUR, f"25th–75th percentile of all {series.total}"))
    return chart


def timeline_chart(events: list[TimelineEvent], width: float = 720.0, row: float = 18.0) -> Chart:
    """One row per subject, days from infusion across: harvest and infusion as marks, AEs as bars."""
    subjects = sorted({e.subject for e in events})
    low = min((e.start for e in events), default=0.0)
    high = max((max(e.start, e.end or e.start) for e in events), default=1.0)
    low, high = min(low, 0.0), max(high, low + 1.0)
    left = 64.0
    scale = (width - left - 16) / (high - low)
    chart = Chart(width=width, height=_TOP + row * len(subjects) + _BOTTOM, title="Harvest, infusion and adverse "
                  "events by day from infusion")

    def x(day: float) -> float:
        return round(left + (day - low) * scale, 2)

    for n, subject in enumerate(subjects):
        y = _TOP + n * row
        chart.labels.append(Label(left - 6, y + row * 0.7, subject, "end"))
    place = {subject: n for n, subject in enumerate(subjects)}
    for event in events:
        y = _TOP + place[event.subject] * row
        if event.kind == "adverse event":
            end = event.end if event.end is not None else event.start
            colour = SEVERITY_COLOURS.get(event.severity or "", OTHER_COLOUR)
            title = (f"subject {event.subject}: {event.label}, day {event.start:g}"
                     f"{f' to {end:g}' if event.end is not None else ''}"
                     f"{f', {event.severity}' if event.severity else ''}{', serious' if event.serious else ''}")
            chart.rects.append(Rect(x(event.start), y + 3, max(x(end) - x(event.start), 3.0), row - 6, colour, title))
        else:
            chart.points.append((x(event.start), y + row / 2, EVENT_COLOURS[event.kind],
                                 f"subject {event.subject}: {event.label}, day {event.start:g}"))
    base = _TOP + row * len(subjects)
    chart.axes = [(left, base, width - 16, base), (x(0), _TOP, x(0), base)]
    chart.labels.extend(Label(x(day), base + 16, f"{day:g}") for day in _day_ticks(low, high))
    chart.labels.append(Label((left + width) / 2, base + 34, "days from infusion"))
    chart.legend = [(EVENT_COLOURS["harvest"], "harvest"), (EVENT_COLOURS["infusion"], "infusion"),
                    *((c, f"AE, {s}") for s, c in SEVERITY_COLOURS.items())]
    return chart


def _bands(quartiles: list[tuple[float, float] | None], xy: Callable[[int, float], tuple[float, float]],
           title: str) -> list[tuple[str, str, str]]:
    """Closed shapes from the 75th percentile along the visits and back along the 25th, one per run of visits
    that have both (a visit with fewer than two values breaks the band)."""
    runs: list[list[tuple[int, tuple[float, float]]]] = [[]]
    for i, q in enumerate(quartiles):
        if q is None:
            runs.append([])
        else:
            runs[-1].append((i, q))
    shapes = []
    for run in runs:
        if len(run) < 2:
            continue
        points = [xy(i, high) for i, (_, high) in run] + [xy(i, low) for i, (low, _) in reversed(run)]
        shapes.append((" ".join(f"{'L' if n else 'M'}{px:g},{py:g}" for n, (px, py) in enumerate(points)) + " Z",
                       BAND_COLOUR, title))
    return shapes


def _path(values: list[tuple[int, float | None]], xy: Callable[[int, float], tuple[float, float]]) -> str:
    """SVG path data through the values present, joining over a visit without a value (as a spaghetti plot of
    repeated measures does); empty for fewer than two values."""
    points = [xy(i, value) for i, value in values if value is not None]
    if len(points) < 2:
        return ""
    return " ".join(f"{'L' if n else 'M'}{px:g},{py:g}" for n, (px, py) in enumerate(points))


def _ticks(most: int) -> list[int]:
    step = max(1, round(most / 4))
    return list(range(0, most + 1, step))


def _day_ticks(low: float, high: float) -> list[float]:
    span = high - low
    step = next((s for s in (1, 2, 5, 7, 14, 30, 60, 90, 180, 365) if span / s <= 8), 730)
    first = -(-low // step) * step
    ticks = []
    day = first
    while day <= high:
        ticks.append(float(day))
        day += step
    return ticks
