"""The charts' geometry, for any figures: bars stack to their counts inside the plot, lines stay inside it."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given
from hypothesis import strategies as st

from fhirbridge.report.charts import line_chart, shift_chart
from fhirbridge.report.statistics import Series, ShiftTable

GRADES = st.sampled_from(["A", "B", "C", "D", "E", "ND", "B,C"])
TABLES = st.lists(
    st.builds(ShiftTable, visit=st.sampled_from(["DAY1", "MONTH3", "MONTH6"]),
              counts=st.dictionaries(st.tuples(GRADES, GRADES), st.integers(1, 40), min_size=1, max_size=12)),
    min_size=1, max_size=3, unique_by=lambda t: t.visit)


@given(TABLES)
def test_bars_stack_to_the_row_totals_inside_the_plot(tables: list[ShiftTable]) -> None:
    chart = shift_chart(tables)
    assert len(chart.rects) == sum(len(t.counts) for t in tables)  # one segment per non-empty cell
    columns: dict[float, list[float]] = defaultdict(list)
    for rect in chart.rects:
        assert rect.height > 0 and rect.x >= 0 and rect.x + rect.width <= chart.width and rect.y >= 0
        columns[rect.x].append(rect.height)
    totals = sorted(t.row_total(b) for t in tables for b in t.baselines)
    heights = sorted(sum(h) for h in columns.values())
    unit = heights[-1] / totals[-1]
    assert all(abs(h - n * unit) < 0.05 for h, n in zip(heights, totals, strict=True))


@given(st.lists(st.lists(st.one_of(st.none(), st.integers(0, 50)), min_size=3, max_size=3), min_size=1, max_size=8))
def test_lines_stay_inside_the_plot(values: list[list[int | None]]) -> None:
    series = Series("upper_motor_total", "UEMS", 50, ["BASELINE", "DAY1", "MONTH6"],
                    {f"{n:03}": [None if v is None else float(v) for v in row] for n, row in enumerate(values)})
    chart = line_chart(series)
    top, bottom = chart.axes[0][1], chart.axes[0][3]
    for d, *_ in chart.paths:
        for point in d.split():
            x, y = map(float, point[1:].split(","))
            assert top <= y <= bottom and chart.axes[0][0] < x < chart.width
    drawn = sum(1 for row in values if sum(v is not None for v in row) >= 2)
    assert len(chart.paths) == drawn + (sum(m is not None for m in series.medians) >= 2)


@given(st.lists(st.lists(st.integers(0, 50), min_size=2, max_size=30), min_size=3, max_size=3))
def test_the_band_of_all_values_is_closed_and_inside_the_plot(per_visit: list[list[int]]) -> None:
    """Lines for two subjects only: the middle half of every value at each visit is a closed band behind them."""
    values = tuple(tuple(float(v) for v in visit) for visit in per_visit)
    series = Series("upper_motor_total", "UEMS", 50, ["BASELINE", "DAY1", "MONTH6"],
                    {"001": [1.0, 2.0, 3.0], "002": [None, 4.0, 5.0]}, values, 40)
    chart = line_chart(series)
    top, bottom = chart.axes[0][1], chart.axes[0][3]
    (band,) = chart.areas
    d = band[0]
    assert d.endswith(" Z")
    points = [tuple(map(float, p[1:].split(","))) for p in d.removesuffix(" Z").split()]
    assert len(points) == 6 and all(top <= y <= bottom for _, y in points)
    highs, lows = points[:3], points[3:][::-1]
    assert all(h[0] == lo[0] and h[1] <= lo[1] for h, lo in zip(highs, lows, strict=True))  # 75th above 25th
    assert [label for _, label in chart.legend] == ["each of the first 2 subjects", "median of all 40",
                                                   "25th–75th percentile of all 40"]
    assert len(chart.paths) == 2 + 1  # two subjects' lines and the median
