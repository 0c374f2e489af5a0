"""Pods: start-up delay distributions and the ledger of every pod a run created.

Start-up delay (``startup_seconds`` in a scenario) — the time from pod creation to Ready:

* a number: fixed delay;
* ``{distribution: fixed, value: 45}``;
* ``{distribution: uniform, low: 30, high: 90}``;
* ``{distribution: lognormal, median: 45, p95: 120, min: 20, max: 600}`` — σ = ln(p95/median)/1.645,
  draws clipped to [min, max]; ``min`` defaults to median/2 and ``max`` to 10 × p95.

Every distribution has a hard ``minimum``: the oracle lower bound charges exactly that per pod
start, so no policy can ever beat the oracle by drawing lucky delays.

The ``PodLedger`` records (created, ready, ended) per pod; billing and "starting" counts per tick
are computed from it in one vectorised pass at the end of a run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from workbench.core import schema

_Z95 = 1.6448536269514722


@dataclass(frozen=True)
class StartupDistribution:
    kind: str
    a: float  # fixed: value; uniform: low; lognormal: median
    b: float = 0.0  # uniform: high; lognormal: p95
    lo: float = 0.0  # hard minimum
    hi: float = math.inf  # hard maximum

    @property
    def minimum(self) -> float:
        if self.kind == "fixed":
            return self.a
        return self.lo

    @property
    def median(self) -> float:
        if self.kind == "uniform":
            return 0.5 * (self.lo + self.hi)
        return self.a

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.kind == "fixed":
            return np.full(n, self.a)
        if self.kind == "uniform":
            return rng.uniform(self.lo, self.hi, n)
        sigma = math.log(self.b / self.a) / _Z95 if self.b > self.a else 0.0
        return np.clip(rng.lognormal(math.log(self.a), sigma, n), self.lo, self.hi)

    def describe(self) -> str:
        if self.kind == "fixed":
            return f"fixed {self.a:g}s"
        if self.kind == "uniform":
            return f"uniform {self.lo:g}..{self.hi:g}s"
        return f"lognormal median {self.a:g}s p95 {self.b:g}s (clipped {self.lo:g}..{self.hi:g}s)"


def parse_startup(reader: schema.Reader, parent: dict, key: str, path: str) -> StartupDistribution:
    sub = schema.join(path, key)
    value = parent.get(key, 45.0)
    if not isinstance(value, dict):
        seconds = schema.duration(reader, parent, key, path, 45.0)
        return StartupDistribution("fixed", seconds)
    kind = reader.string(value, "distribution", sub, "lognormal", choices=("fixed", "uniform", "lognormal"))
    if kind == "fixed":
        reader.mapping(value, sub, ("distribution", "value"), required=("value",))
        v = schema.duration(reader, value, "value", sub, 45.0)
        return StartupDistribution("fixed", v)
    if kind == "uniform":
        reader.mapping(value, sub, ("distribution", "low", "high"), required=("low", "high"))
        low = schema.duration(reader, value, "low", sub, 0.0)
        high = schema.duration(reader, value, "high", sub, 0.0)
        if high < low:
            reader.error(schema.join(sub, "high"), f"must be >= low ({low:g}), got {high:g}")
        return StartupDistribution("uniform", low, high, low, high)
    reader.mapping(value, sub, ("distribution", "median", "p95", "min", "max"), required=("median",))
    median = schema.duration(reader, value, "median", sub, 45.0, positive=True)
    p95 = schema.duration(reader, value, "p95", sub, median * 2.0)
    if p95 < median:
        reader.error(schema.join(sub, "p95"), f"must be >= median ({median:g}), got {p95:g}")
    lo = schema.duration(reader, value, "min", sub, median / 2.0)
    hi = schema.duration(reader, value, "max", sub, max(p95 * 10.0, lo))
    if lo > median:
        reader.error(schema.join(sub, "min"), f"must be <= median ({median:g}), got {lo:g}")
    if hi < p95:
        reader.error(schema.join(sub, "max"), f"must be >= p95 ({p95:g}), got {hi:g}")
    return StartupDistribution("lognormal", median, p95, lo, hi)


class PodLedger:
    """Append-only record of pods. Times are simulation seconds (0 = first tick)."""

    def __init__(self) -> None:
        self.created: list[float] = []
        self.ready_at: list[float] = []
        self.ended: list[float] = []

    def add(self, created: float, ready_at: float) -> int:
        self.created.append(created)
        self.ready_at.append(ready_at)
        self.ended.append(math.inf)
        return len(self.created) - 1

    def end(self, pod: int, when: float) -> None:
        self.ended[pod] = when

    def billed_per_tick(self, ticks: int, dt: float, grace: float) -> np.ndarray:
        """Average pods billed during each tick: alive from creation until end + grace."""
        horizon = ticks * dt
        a = np.asarray(self.created, dtype=float)
        b = np.minimum(np.asarray(self.ended, dtype=float) + grace, horizon)
        edges = np.arange(ticks + 1, dtype=float) * dt
        return np.diff(_coverage(a, b, edges)) / dt

    def starting_per_tick(self, ticks: int, dt: float) -> np.ndarray:
        """Pods created but not yet ready (and not deleted) at each tick, after its decision."""
        a = np.asarray(self.created, dtype=float)
        r = np.minimum(np.asarray(self.ready_at, dtype=float), np.asarray(self.ended, dtype=float))
        t = np.arange(ticks, dtype=float) * dt
        return (np.searchsorted(np.sort(a), t, side="right") - np.searchsorted(np.sort(r), t, side="right")).astype(np.int64)

    def starts_after(self, t0: float) -> int:
        return int(np.count_nonzero(np.asarray(self.created, dtype=float) >= t0))


def _coverage(a: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """F(x) = Σ_i |[a_i, b_i) ∩ (-inf, x)| for every x (a, b unsorted; b >= a where alive)."""
    keep = b > a
    a, b = np.sort(a[keep]), np.sort(b[keep])
    ca = np.concatenate([[0.0], np.cumsum(a)])
    cb = np.concatenate([[0.0], np.cumsum(b)])
    na = np.searchsorted(a, x, side="left")
    nb = np.searchsorted(b, x, side="left")
    return (na * x - ca[na]) - (nb * x - cb[nb])
