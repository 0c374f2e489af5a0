"""Property tests: valid CSVs round-trip exactly, one injected defect is reported at its line,
and resampling preserves the integral."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from workbench.core import errors
from workbench.traces import Trace, files, grid_for, resample

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
UTC = dt.timezone.utc
FORMS = ("iso-z", "iso-offset", "iso-naive", "epoch-int", "epoch-float")


def stamp(seconds: int, form: str, offset_minutes: int = 0) -> str:
    moment = dt.datetime.fromtimestamp(seconds, UTC)
    if form == "iso-z":
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if form == "iso-offset":
        return moment.astimezone(dt.timezone(dt.timedelta(minutes=offset_minutes))).isoformat()
    if form == "iso-naive":
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    if form == "epoch-int":
        return str(seconds)
    return f"{seconds}.0"


@st.composite
def valid_tables(draw, min_rows=2):
    """Timestamps 60-90 s apart (never a gap: a gap needs > 1.5 x the median >= 60 s) and finite values >= 0."""
    n = draw(st.integers(min_rows, 25))
    start = draw(st.integers(0, 4_000_000_000))
    steps = draw(st.lists(st.integers(60, 90), min_size=n - 1, max_size=n - 1))
    times = [start + sum(steps[:i]) for i in range(n)]
    names = draw(st.lists(st.sampled_from(["a", "rps", "cpu_pct", "x1"]), min_size=1, max_size=3, unique=True))
    number = st.floats(min_value=0, allow_nan=False, allow_infinity=False) | st.integers(0, 10**6).map(float)
    columns = {name: draw(st.lists(number, min_size=n, max_size=n)) for name in names}
    form = draw(st.sampled_from(FORMS))
    offsets = draw(st.lists(st.sampled_from([-720, -300, 0, 60, 330, 840]), min_size=n, max_size=n))
    stamps = [stamp(t, form, o) for t, o in zip(times, offsets)]
    return times, stamps, columns, form


def render(stamps, columns, cells=None, blank_after=None, newline="\n") -> tuple[str, list[int]]:
    """CSV text and the 1-based line of each data row (blank lines may be sprinkled in)."""
    names = list(columns)
    lines, row_lines = ["timestamp," + ",".join(names)], []
    for i, s in enumerate(stamps):
        row = [s] + [repr(columns[c][i]) for c in names]
        for (r, c), text in (cells or {}).items():
            if r == i:
                row[c] = text
        lines.append(",".join(row))
        row_lines.append(len(lines))
        lines.extend([""] * (blank_after[i] if blank_after else 0))
    return newline.join(lines) + newline, row_lines


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prop.csv"
    path.write_text(text, encoding="utf-8", newline="")
    return path


@SETTINGS
@given(valid_tables(), st.sampled_from(["\n", "\r\n"]))
def test_valid_csv_round_trips_exactly(tmp_path, table, newline):
    times, stamps, columns, _ = table
    path = write(tmp_path, render(stamps, columns, newline=newline)[0])
    trace = files.load_trace(path)
    assert trace.times.tolist() == [float(t) for t in times]
    assert list(trace.columns) == list(columns)
    for name, values in columns.items():
        got = trace.column(name)
        assert got.dtype == np.float64 and got.tolist() == values
    assert trace.warnings == ()


DEFECTS = ("duplicate", "backwards", "negative", "not-a-number", "infinite", "bad-timestamp", "milliseconds")


@SETTINGS
@given(valid_tables(min_rows=3), st.sampled_from(DEFECTS), st.data())
def test_one_injected_defect_is_reported_at_its_line(tmp_path, table, defect, data):
    times, stamps, columns, form = table
    n = len(times)
    row = data.draw(st.integers(1, n - 1), label="row")
    col = data.draw(st.integers(1, len(columns)), label="column")
    name = list(columns)[col - 1]
    blank_after = data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n), label="blank lines")
    cells: dict[tuple[int, int], str] = {}
    if defect == "duplicate":
        cells[row, 0] = stamps[row - 1]
        expected = "duplicate timestamp"
    elif defect == "backwards":
        cells[row, 0] = stamp(times[row - 1] - data.draw(st.integers(1, 10_000), label="back"), form)
        expected = "timestamp goes backwards"
    elif defect == "negative":
        cells[row, col] = repr(-data.draw(st.floats(min_value=1e-300, max_value=1e300), label="negative"))
        expected = f"column '{name}': negative value"
    elif defect == "not-a-number":
        cells[row, col] = data.draw(st.sampled_from(["abc", "12x", "--1", "1e", "one", "1.2.3"]), label="garbage")
        expected = f"column '{name}': '{cells[row, col]}' is not a number"
    elif defect == "infinite":
        cells[row, col] = data.draw(st.sampled_from(["inf", "-inf", "Infinity"]), label="inf")
        expected = f"column '{name}': infinite value"
    elif defect == "bad-timestamp":
        cells[row, 0] = data.draw(st.sampled_from(["soon", "1995-07-0", "2016-13-01", "yesterday"]), label="ts")
        expected = f"timestamp '{cells[row, 0]}' is not ISO-8601 or epoch seconds"
    else:
        assume(form.startswith("epoch"))
        cells[row, 0] = str(times[row] * 1000 + 10**11)
        expected = f"timestamp '{cells[row, 0]}' looks like milliseconds since the epoch (expected seconds)"
    text, row_lines = render(stamps, columns, cells, blank_after)
    path = write(tmp_path, text)
    with pytest.raises(errors.TraceError) as info:
        files.load_trace(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{row_lines[row]}: {expected}"), message
    assert "\n" not in message


@st.composite
def traces_and_grids(draw):
    n = draw(st.integers(2, 40))
    origin = draw(st.floats(0, 2e9))
    spacing = draw(st.lists(st.floats(0.5, 600), min_size=n - 1, max_size=n - 1))
    times = origin + np.concatenate(([0.0], np.cumsum(spacing)))
    assume(np.all(np.diff(times) > 0))
    values = draw(st.lists(st.floats(0, 1e6), min_size=n, max_size=n))
    trace = Trace(times=times, columns={"a": np.array(values)}, source="prop")
    interval = draw(st.floats(1.0, 3600.0))
    lead = draw(st.floats(0, 1)) * (trace.covered_until - trace.start)
    return trace, interval, trace.start + lead


def exact_integral(trace: Trace, a: float, b: float) -> float:
    """Integral of the piecewise-constant trace over [start + a, start + b), one overlap at a time."""
    t0 = trace.start
    knots = list(trace.times - t0) + [trace.covered_until - t0]
    values = trace.column("a")
    return math.fsum(float(values[i]) * max(0.0, min(b, knots[i + 1]) - max(a, knots[i]))
                     for i in range(len(values)))


@settings(max_examples=150, deadline=None)
@given(traces_and_grids())
def test_resample_preserves_the_integral(case):
    trace, interval, lower = case
    try:
        start, ticks = grid_for(trace, interval, start=lower)
    except errors.TraceError:
        assume(False)
    grid = resample(trace, "a", start=start, interval=interval, ticks=ticks)
    assert grid.shape == (ticks,) and (grid >= 0).all()
    total = math.fsum(grid) * interval
    lead = start - trace.start  # grid bounds relative to the trace start, as resample computes them
    expected = exact_integral(trace, lead, lead + ticks * interval)
    scale = float(trace.column("a").max()) * ticks * interval
    assert abs(total - expected) <= 1e-9 * abs(expected) + 1e-12 * scale


@settings(max_examples=100, deadline=None)
@given(traces_and_grids())
def test_resample_of_a_constant_is_that_constant(case):
    trace, interval, lower = case
    flat = Trace(times=trace.times, columns={"a": np.full(len(trace), 42.5)}, source="flat")
    try:
        start, ticks = grid_for(flat, interval, start=lower)
    except errors.TraceError:
        assume(False)
    np.testing.assert_allclose(resample(flat, "a", start=start, interval=interval, ticks=ticks), 42.5, rtol=1e-9)
