"""Turn a scenario's trace spec into the per-tick load the simulator replays.

Steps: load (CSV/Parquet through ``workbench.traces`` with its validation and gap policy; a
Prometheus range fetched once into a cached Parquet file by ``workbench.sources.fetch``; or
generate a synthetic shape from the scenario's seed) → choose the control grid inside the trace
and the optional [start, end) window → resample to the control interval (time-weighted mean, so
request volume is preserved) → rescale (``scale``, ``peak_rps`` or ``mean_rps``, applied to the
windowed series so another trace given with ``--trace`` lands on the same load level).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field, replace
from typing import Mapping

import numpy as np

from workbench.core import errors
from workbench.sim.scenario import Scenario
from workbench.traces import grid_for, load_trace, resample, synthetic

SYNTHETIC_EPOCH = _dt.datetime(2024, 1, 1, tzinfo=_dt.timezone.utc).timestamp()  # a Monday


@dataclass(frozen=True)
class Load:
    start: float                 # epoch seconds of tick 0
    dt: float                    # seconds per tick (the control interval)
    demand: np.ndarray           # requests/s per tick
    extra: Mapping[str, np.ndarray] = field(default_factory=dict)  # custom metrics per tick
    source: str = ""
    warnings: tuple[str, ...] = ()

    @property
    def ticks(self) -> int:
        return len(self.demand)

    def demand_replicas(self, service) -> np.ndarray:
        """The SPEC "demand" (fewest ready pods meeting the SLO) per tick for ``service``. The same
        for every policy replayed on this load, so it is computed once per (load, service)."""
        memo = self.__dict__.get("_demand_replicas")
        if memo is None or memo[0] is not service:
            memo = (service, service.demand_replicas(self.demand))
            object.__setattr__(self, "_demand_replicas", memo)
        return memo[1]


def build_load(scenario: Scenario) -> Load:
    spec = scenario.trace
    dt = scenario.interval_seconds
    if spec.kind == "synthetic":
        start = spec.start if spec.start is not None else SYNTHETIC_EPOCH
        duration = spec.duration or (spec.end - start if spec.end is not None else None) \
            or getattr(spec.synthetic, "duration", None) or 86400.0
        rng = np.random.default_rng(scenario.seed)
        trace = synthetic.generate(spec.synthetic, start=start, duration=duration, step=dt, rng=rng)
    else:
        if not spec.path and spec.kind != "prometheus":
            raise errors.UserError(f"{scenario.source}: trace: no file given")
        columns = list(dict.fromkeys([spec.column, *spec.metrics.values()]))
        window_end = spec.end
        if spec.duration is not None:
            window_end = spec.start + spec.duration if spec.start is not None else None
        options = dict(gaps=spec.gaps, max_gap_seconds=spec.max_gap_seconds, window=(spec.start, window_end))
        if spec.kind == "prometheus":
            from workbench.sources import fetch  # HTTP clients only when a scenario needs them

            with fetch.cached_fetch(spec.prometheus, columns, source=scenario.source) as (path, notes):
                trace = load_trace(path, columns, **options)
            trace = replace(trace, warnings=(*notes, *trace.warnings))
        else:
            trace = load_trace(spec.path, columns, **options)
    end = spec.end
    if spec.duration is not None and spec.kind != "synthetic":
        end = (spec.start if spec.start is not None else trace.start) + spec.duration
    start, ticks = grid_for(trace, dt, start=spec.start, end=end)
    demand = resample(trace, spec.column, start=start, interval=dt, ticks=ticks)
    demand = _rescale(demand, spec, scenario.source)
    extra = {name: resample(trace, col, start=start, interval=dt, ticks=ticks) for name, col in spec.metrics.items()}
    return Load(start=start, dt=dt, demand=demand, extra=extra, source=trace.source, warnings=tuple(trace.warnings))


def _rescale(demand: np.ndarray, spec, source: str) -> np.ndarray:
    if spec.scale is not None:
        return demand * spec.scale
    if spec.peak_rps is not None or spec.mean_rps is not None:
        ref = float(demand.max()) if spec.peak_rps is not None else float(demand.mean())
        if ref <= 0:
            raise errors.UserError(f"{source}: trace column '{spec.column}' is all zero in the chosen window; "
                                   "cannot rescale it to peak_rps/mean_rps")
        return demand * ((spec.peak_rps or spec.mean_rps) / ref)
    return demand
