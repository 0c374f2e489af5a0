"""The in-memory trace: one time axis and named float64 series on it.

A ``Trace`` is what every loader (CSV, Parquet, synthetic, later Prometheus) produces and what the
resampler and the simulator consume. It is a value: frozen, with read-only arrays.

Invariants (checked on construction; a violation is a ``TraceError`` naming ``source``):

* ``times`` is a 1-D float64 array of epoch seconds (UTC), finite and strictly increasing,
  with at least 2 samples.
* every column is a 1-D float64 array of the same length as ``times``, finite and >= 0
  (a load cannot be negative).
* sample ``i`` is the mean rate over ``[times[i], times[i] + spacing[i])``, where
  ``spacing[i] = times[i+1] - times[i]`` and the last sample uses the median spacing
  (see ``spacings``). The trace therefore covers ``[start, end + spacings()[-1])``.
* ``warnings`` are one-line, human-readable and already name the source.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from workbench.core import errors


def _frozen_array(values: np.ndarray) -> np.ndarray:
    out = np.array(values, dtype=np.float64, copy=True)
    out.flags.writeable = False
    return out


@dataclass(frozen=True)
class Trace:
    """Samples of one or more metrics on a shared, strictly increasing time axis."""

    times: np.ndarray
    columns: Mapping[str, np.ndarray]
    source: str
    warnings: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        times = np.asarray(self.times)
        if times.ndim != 1:
            raise errors.TraceError(f"{self.source}: times must be one-dimensional")
        times = _frozen_array(times)
        if len(times) < 2:
            raise errors.TraceError(f"{self.source}: a trace needs at least 2 samples, got {len(times)}")
        if not np.isfinite(times).all():
            raise errors.TraceError(f"{self.source}: times must be finite")
        if not (np.diff(times) > 0).all():
            raise errors.TraceError(f"{self.source}: times must be strictly increasing")
        if not self.columns:
            raise errors.TraceError(f"{self.source}: a trace needs at least one column")
        cols: dict[str, np.ndarray] = {}
        for name, values in self.columns.items():
            arr = np.asarray(values)
            if arr.shape != times.shape:
                raise errors.TraceError(
                    f"{self.source}: column '{name}' has {arr.size} values for {len(times)} times")
            arr = _frozen_array(arr)
            if not np.isfinite(arr).all():
                raise errors.TraceError(f"{self.source}: column '{name}' has non-finite values")
            if (arr < 0).any():
                raise errors.TraceError(f"{self.source}: column '{name}' has negative values")
            cols[str(name)] = arr
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "columns", types.MappingProxyType(cols))
        object.__setattr__(self, "warnings", tuple(self.warnings))

    # -- access ----------------------------------------------------------------------------
    def column(self, name: str) -> np.ndarray:
        """The values of column ``name``; ``TraceError`` listing the columns if it is absent."""
        try:
            return self.columns[name]
        except KeyError:
            raise errors.TraceError(
                f"{self.source}: no column '{name}' (columns: {', '.join(self.columns)})") from None

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(self.columns)

    @property
    def start(self) -> float:
        """Time of the first sample (epoch seconds)."""
        return float(self.times[0])

    @property
    def end(self) -> float:
        """Time of the last sample (epoch seconds); the trace covers up to ``end + spacings()[-1]``."""
        return float(self.times[-1])

    @property
    def median_spacing(self) -> float:
        """The typical distance between samples (median of the differences)."""
        return float(np.median(np.diff(self.times)))

    def spacings(self) -> np.ndarray:
        """Length of the interval each sample stands for: distance to the next, median for the last."""
        diffs = np.diff(self.times)
        return np.append(diffs, np.median(diffs))

    @property
    def covered_until(self) -> float:
        """End of the time range the samples describe: ``end`` plus the last sample's spacing."""
        return self.end + self.median_spacing

    def __len__(self) -> int:
        return len(self.times)
