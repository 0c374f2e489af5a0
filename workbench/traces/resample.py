"""Put a trace column on the simulator's regular grid, conserving the integral.

Semantics. A trace sample at time ``s`` is the mean rate over ``[s, s + spacing)``, where spacing
is the distance to the next sample (the median spacing for the last one), so the trace is a
piecewise-constant function on ``[trace.start, trace.covered_until)``. Grid tick ``k`` is at
``start + k * interval`` and stands for ``[t_k, t_k + interval)``; its value is the time-weighted
mean of that function over the interval. This is exact for down-sampling (1 s trace -> 15 s grid:
the mean of the fifteen samples), up-sampling (5 min trace -> 15 s grid: the value is held) and
anything between. ``sum(grid) * interval`` equals the integral of the trace over the grid's range.

Invariants: the grid must lie inside the trace's coverage (``TraceError`` otherwise; ``grid_for``
picks the largest one that does); a grid interval lying inside a single trace sample gets that
sample's value exactly (no rounding from the cumulative sums).

Implementation: O(n + ticks) with a cumulative integral at the sample boundaries (``np.cumsum``)
and ``np.searchsorted`` to find the samples holding each grid boundary, in seconds since the
trace start (so float rounding of epoch-sized times does not leak into the weights).
"""

from __future__ import annotations

import math

import numpy as np

from workbench.core import errors
from workbench.traces import files, model

# Grid ends may overshoot the trace by float rounding of ``start + ticks * interval``
# (an epoch near 2e9 s has an ulp of ~2.4e-7 s); anything beyond this is a real overshoot.
TOLERANCE_SECONDS = 1e-6


def grid_for(trace: model.Trace, interval: float, start: float | None = None,
             end: float | None = None) -> tuple[float, int]:
    """``(start, ticks)`` of the largest grid of ``interval`` inside the trace and ``[start, end]``.

    The grid starts at the later of the trace start and ``start``; it ends no later than the
    trace's coverage end (last sample + its spacing) and ``end``. Fewer than 2 ticks is a
    ``TraceError``.
    """
    if not interval > 0 or not math.isfinite(interval):
        raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
    lo = trace.start if start is None else max(trace.start, float(start))
    hi = trace.covered_until if end is None else min(trace.covered_until, float(end))
    ticks = int(math.floor((hi - lo) / interval + 1e-9)) if hi > lo else 0
    if ticks < 2:
        window = ""
        if start is not None or end is not None:
            window = (f" within the requested window {files.iso(start) if start is not None else '-'} .. "
                      f"{files.iso(end) if end is not None else '-'}")
        raise errors.TraceError(
            f"{trace.source}: only {ticks} tick{'' if ticks == 1 else 's'} of {files.human_duration(interval)} fit "
            f"in the trace ({files.iso(trace.start)} .. {files.iso(trace.covered_until)}){window}; need at least 2")
    return lo, ticks


def resample(trace: model.Trace, column: str, *, start: float, interval: float, ticks: int) -> np.ndarray:
    """Time-weighted mean of ``column`` over each ``[start + k*interval, start + (k+1)*interval)``."""
    values = trace.column(column)
    if not interval > 0 or not math.isfinite(interval):
        raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
    if ticks < 0 or int(ticks) != ticks:
        raise ValueError(f"ticks must be a non-negative integer, got {ticks!r}")
    ticks = int(ticks)
    if ticks == 0:
        return np.zeros(0)
    # Work in seconds since the trace start: epoch times near 2e9 have an ulp of 2.4e-7 s, offsets
    # within a month have one of ~5e-10 s, so grid edges and sample boundaries stay precise.
    origin = trace.start
    knots = np.append(trace.times, trace.covered_until) - origin  # sample boundaries
    edges = (start - origin) + np.arange(ticks + 1, dtype=np.float64) * interval  # grid boundaries
    if edges[0] < knots[0] - TOLERANCE_SECONDS:
        raise errors.TraceError(
            f"{trace.source}: resample grid starts at {files.iso(start)}, before the trace starts "
            f"({files.iso(origin)})")
    if edges[-1] > knots[-1] + TOLERANCE_SECONDS:
        raise errors.TraceError(
            f"{trace.source}: resample grid ends at {files.iso(origin + edges[-1])}, after the trace ends "
            f"({files.iso(trace.covered_until)})")
    edges = np.clip(edges, knots[0], knots[-1])
    widths = np.diff(knots)
    area = np.concatenate(([0.0], np.cumsum(values * widths)))  # integral from knots[0] to knots[j]
    n = len(values)
    a, b = edges[:-1], edges[1:]
    # sample holding the interval's left end (a in [knots[i], knots[i+1])) and right end (b in (.., ..])
    i = np.clip(np.searchsorted(knots, a, side="right") - 1, 0, n - 1)
    j = np.clip(np.searchsorted(knots, b, side="left") - 1, 0, n - 1)
    # integral over [a, b) = tail of sample i + whole samples i+1..j-1 + head of sample j
    whole = area[j] - area[np.minimum(i + 1, j)]
    partial = values[i] * (knots[i + 1] - a) + values[j] * (b - knots[j])
    width = b - a
    mean = (whole + partial) / np.where(width > 0, width, 1.0)
    # an interval inside one sample takes its value exactly (also one shrunk to nothing by clipping)
    return np.where((i == j) | (width <= 0), values[i], mean)
