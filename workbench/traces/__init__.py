"""Traces: load, validate, gap-fill, resample and synthesise load time series.

* ``model.Trace``: a frozen time axis (epoch seconds, strictly increasing) plus named float64
  columns (finite, >= 0); sample ``i`` is the mean rate over ``[times[i], times[i+1])``.
* ``files.load_trace``: CSV (``.csv``, ``.csv.gz``) or Parquet (``.parquet``, ``.pq``) with a
  ``timestamp`` column (ISO-8601, offsets converted to UTC, naive = UTC; or epoch seconds).
* ``resample.resample`` / ``resample.grid_for``: time-weighted means on the simulator's grid.
* ``synthetic``: ``parse`` a scenario's ``synthetic:`` mapping, ``generate`` a ``Trace``.

Validation policy (details in ``files``): the first hard problem is a one-line ``TraceError``
naming the file and the 1-based line (``x.csv:57: timestamp '1995-07-0' is not ISO-8601 or epoch
seconds``): missing/unreadable/empty file, no ``timestamp`` column, fewer than 2 rows, unparseable,
millisecond, duplicate or backwards timestamps, non-numeric, infinite or negative values.
Missing values and gaps (a step > 1.5 x the median spacing) are filled by the gap policy
(``interpolate`` default, ``hold``, ``zero``; ``error`` rejects them) and reported as one-line
warnings in ``Trace.warnings``; ``max_gap_seconds`` bounds the gaps that may be filled.
"""

from workbench.traces import synthetic
from workbench.traces.files import GAP_POLICIES, load_trace
from workbench.traces.model import Trace
from workbench.traces.resample import grid_for, resample

__all__ = ["GAP_POLICIES", "Trace", "grid_for", "load_trace", "resample", "synthetic"]
