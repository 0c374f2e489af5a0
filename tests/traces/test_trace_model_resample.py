"""Trace invariants, resample exactness (down, up, mixed, uneven spacing) and grid_for edges."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.core import errors
from workbench.traces import Trace, grid_for, resample


def trace(times, values, source="t.csv", name="a") -> Trace:
    return Trace(times=np.asarray(times, dtype=float), columns={name: np.asarray(values, dtype=float)}, source=source)


# -- Trace ---------------------------------------------------------------------------------------------
def test_trace_accessors():
    t = trace([10, 20, 40], [1, 2, 3])
    assert (t.start, t.end, len(t), t.median_spacing, t.covered_until) == (10.0, 40.0, 3, 15.0, 55.0)
    assert t.spacings().tolist() == [10.0, 20.0, 15.0]
    assert t.column_names == ("a",)


def test_trace_is_immutable():
    values = np.array([1.0, 2.0])
    t = trace([0, 1], values)
    values[0] = 99  # the trace holds its own copy
    assert t.column("a").tolist() == [1.0, 2.0]
    with pytest.raises(ValueError):
        t.column("a")[0] = 5
    with pytest.raises(ValueError):
        t.times[0] = 5
    with pytest.raises(TypeError):
        t.columns["b"] = np.zeros(2)


def test_unknown_column_lists_the_columns():
    t = Trace(times=np.array([0.0, 1.0]), columns={"a": np.zeros(2), "b": np.ones(2)}, source="x.csv")
    with pytest.raises(errors.TraceError) as info:
        t.column("c")
    assert str(info.value) == "x.csv: no column 'c' (columns: a, b)"


@pytest.mark.parametrize(("times", "columns", "message"), [
    pytest.param([0.0], {"a": [1.0]}, "s: a trace needs at least 2 samples, got 1", id="one-sample"),
    pytest.param([0.0, 0.0], {"a": [1.0, 1.0]}, "s: times must be strictly increasing", id="not-increasing"),
    pytest.param([0.0, np.nan], {"a": [1.0, 1.0]}, "s: times must be finite", id="nan-time"),
    pytest.param([0.0, 1.0], {}, "s: a trace needs at least one column", id="no-columns"),
    pytest.param([0.0, 1.0], {"a": [1.0]}, "s: column 'a' has 1 values for 2 times", id="length"),
    pytest.param([0.0, 1.0], {"a": [1.0, np.inf]}, "s: column 'a' has non-finite values", id="inf"),
    pytest.param([0.0, 1.0], {"a": [1.0, -1.0]}, "s: column 'a' has negative values", id="negative"),
])
def test_trace_invariants(times, columns, message):
    with pytest.raises(errors.TraceError) as info:
        Trace(times=np.array(times), columns={k: np.array(v) for k, v in columns.items()}, source="s")
    assert str(info.value) == message


# -- resample ------------------------------------------------------------------------------------------
STAIRS = trace([0, 10, 20, 30], [1, 2, 3, 4])  # covers [0, 40)
UNEVEN = trace([0, 10, 40], [1, 2, 5])  # spacings 10, 30, median 20: covers [0, 60)

RESAMPLE_CASES = [
    pytest.param(STAIRS, 0, 10, 4, [1, 2, 3, 4], id="identity"),
    pytest.param(STAIRS, 0, 20, 2, [1.5, 3.5], id="down-2x"),
    pytest.param(STAIRS, 0, 40, 1, [2.5], id="down-to-one"),
    pytest.param(STAIRS, 0, 5, 8, [1, 1, 2, 2, 3, 3, 4, 4], id="up-2x"),
    pytest.param(STAIRS, 2.5, 2.5, 3, [1, 1, 1], id="up-inside-one-sample"),
    pytest.param(STAIRS, 5, 10, 3, [1.5, 2.5, 3.5], id="shifted"),
    pytest.param(STAIRS, 5, 15, 2, [5 / 3, 10 / 3], id="mixed-15s"),
    pytest.param(STAIRS, 36, 4, 1, [4], id="last-sample-uses-median-spacing"),
    pytest.param(UNEVEN, 0, 20, 3, [1.5, 2, 5], id="uneven-spacing"),
    pytest.param(UNEVEN, 5, 50, 1, [(5 * 1 + 30 * 2 + 15 * 5) / 50], id="uneven-across-three"),
]


@pytest.mark.parametrize(("tr", "start", "interval", "ticks", "expected"), RESAMPLE_CASES)
def test_resample_is_the_time_weighted_mean(tr, start, interval, ticks, expected):
    out = resample(tr, "a", start=start, interval=interval, ticks=ticks)
    assert out.tolist() == pytest.approx(expected, rel=1e-12)


def test_upsampling_5min_to_15s_holds_each_value_exactly():
    rng = np.random.default_rng(3)
    values = rng.uniform(0, 1000, 288)
    tr = trace(1_451_606_400 + 300.0 * np.arange(288), values)
    out = resample(tr, "a", start=tr.start, interval=15, ticks=288 * 20)
    assert np.array_equal(out, np.repeat(values, 20))


def test_downsampling_1s_to_15s_is_the_mean_of_fifteen():
    values = np.arange(150, dtype=float)
    tr = trace(1_700_000_000 + np.arange(150.0), values)
    out = resample(tr, "a", start=tr.start, interval=15, ticks=10)
    np.testing.assert_allclose(out, values.reshape(10, 15).mean(axis=1), rtol=1e-12)


def test_zero_ticks():
    assert resample(STAIRS, "a", start=0, interval=10, ticks=0).tolist() == []


@pytest.mark.parametrize(("start", "interval", "ticks", "message"), [
    pytest.param(-1, 10, 2, "t.csv: resample grid starts at 1969-12-31T23:59:59Z, before the trace starts "
                 "(1970-01-01T00:00:00Z)", id="before"),
    pytest.param(0, 10, 5, "t.csv: resample grid ends at 1970-01-01T00:00:50Z, after the trace ends "
                 "(1970-01-01T00:00:40Z)", id="after"),
])
def test_grid_outside_the_trace(start, interval, ticks, message):
    with pytest.raises(errors.TraceError) as info:
        resample(STAIRS, "a", start=start, interval=interval, ticks=ticks)
    assert str(info.value) == message


def test_resample_unknown_column():
    with pytest.raises(errors.TraceError, match=r"^t.csv: no column 'rps' \(columns: a\)$"):
        resample(STAIRS, "rps", start=0, interval=10, ticks=1)


@pytest.mark.parametrize(("interval", "ticks"), [(0, 1), (-1, 1), (float("nan"), 1), (10, -1), (10, 1.5)])
def test_resample_bad_arguments(interval, ticks):
    with pytest.raises(ValueError):
        resample(STAIRS, "a", start=0, interval=interval, ticks=ticks)


# -- grid_for ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("interval", "start", "end", "expected"), [
    pytest.param(10, None, None, (0.0, 4), id="whole-trace"),
    pytest.param(15, None, None, (0.0, 2), id="partial-last-interval-dropped"),
    pytest.param(7, None, None, (0.0, 5), id="seven"),
    pytest.param(10, 5, None, (5.0, 3), id="start-bound"),
    pytest.param(10, -100, None, (0.0, 4), id="start-before-trace-clamped"),
    pytest.param(10, None, 25, (0.0, 2), id="end-bound"),
    pytest.param(10, None, 1000, (0.0, 4), id="end-after-trace-clamped"),
    pytest.param(5, 12, 30, (12.0, 3), id="both-bounds"),
])
def test_grid_for(interval, start, end, expected):
    assert grid_for(STAIRS, interval, start, end) == expected


@pytest.mark.parametrize(("interval", "start", "end", "message"), [
    pytest.param(25, None, None, "t.csv: only 1 tick of 25s fit in the trace (1970-01-01T00:00:00Z .. "
                 "1970-01-01T00:00:40Z); need at least 2", id="one-tick"),
    pytest.param(10, 100, None, "t.csv: only 0 ticks of 10s fit in the trace (1970-01-01T00:00:00Z .. "
                 "1970-01-01T00:00:40Z) within the requested window 1970-01-01T00:01:40Z .. -; need at least 2",
                 id="window-after-trace"),
    pytest.param(10, 0, 15, "t.csv: only 1 tick of 10s fit in the trace (1970-01-01T00:00:00Z .. "
                 "1970-01-01T00:00:40Z) within the requested window 1970-01-01T00:00:00Z .. "
                 "1970-01-01T00:00:15Z; need at least 2", id="window-too-short"),
])
def test_grid_for_too_small(interval, start, end, message):
    with pytest.raises(errors.TraceError) as info:
        grid_for(STAIRS, interval, start, end)
    assert str(info.value) == message


def test_grid_for_then_resample_on_epoch_times():
    tr = trace(1_451_606_400 + 0.1 * np.arange(1000), np.ones(1000))
    start, ticks = grid_for(tr, 0.3)
    assert ticks == 333
    assert resample(tr, "a", start=start, interval=0.3, ticks=ticks).tolist() == pytest.approx([1.0] * 333)
