"""The service model: what a given load does to pods that serve it (capacity, CPU, memory, latency).

Latency model: each pod is an **M/M/c queue** — Poisson arrivals (the load balancer splits the
service's Poisson stream evenly, so each pod sees Poisson arrivals at rate λ/n), ``c`` workers
(threads/connections) per pod, exponential service times with mean ``service_time_ms``. Why this
model: it is the simplest one whose latency explodes as utilisation approaches 1 the way real
services do, it has an exact closed form for the full response-time distribution (so both the
p95 and the *share of requests over the SLO* are exact rather than guessed), and it has the two
knobs users can measure (per-pod concurrency and mean service time). With c = 1 it is M/M/1.

Response time T = S + W, S ~ Exp(μ); W = 0 with probability 1 − C and Exp(θ) with probability C,
where C is Erlang's C formula for c servers at offered load a = λ/μ and θ = cμ − λ. So

    P(T > t) = (1 − C)·e^{−μt} + C·(θ·e^{−μt} − μ·e^{−θt}) / (θ − μ)        (θ ≠ μ)

A fixed ``network_ms`` is added to every request. Requests beyond a pod's capacity c·μ are
dropped (counted, and the tick's p95 is the ``timeout_ms`` cap). Per-pod utilisation is tabulated
once (p95 and over-SLO share vs ρ on a dense grid, refined near ρ → 1) and interpolated, so a
30-day run costs a few ``np.interp`` calls; the tables are monotone, which keeps the SLA verdict
and the "replicas needed" demand consistent by construction.

CPU (cores) per ready pod = idle + per_rps · served_per_pod, reported as a fraction of the CPU
request; memory = base_mb + per_rps_mb · served_per_pod, as a fraction of the memory limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

_RHO_GRID = np.unique(np.concatenate([
    np.linspace(0.0, 0.9, 1801),
    1.0 - np.logspace(-1.0, -6.0, 1501),
]))


@dataclass(frozen=True)
class ServiceModel:
    workers_per_pod: int
    service_time_ms: float
    cpu_idle_cores: float = 0.05
    cpu_per_rps: float = 0.006
    cpu_request_cores: float = 1.0
    memory_base_mb: float = 300.0
    memory_per_rps_mb: float = 1.5
    memory_limit_mb: float = 1024.0
    network_ms: float = 0.0
    timeout_ms: float = 30000.0
    slo_p95_ms: float = 500.0

    @property
    def mu(self) -> float:
        """Service rate of one worker (1/s)."""
        return 1000.0 / self.service_time_ms

    @property
    def capacity_rps(self) -> float:
        """Most requests/s one pod can serve (ρ → 1)."""
        return self.workers_per_pod * self.mu

    # ------------------------------------------------------------------ exact queueing formulas
    def erlang_c(self, rho: np.ndarray) -> np.ndarray:
        c = self.workers_per_pod
        a = rho * c
        b = np.ones_like(a)
        for k in range(1, c + 1):  # Erlang B by recursion, stable for any c
            b = a * b / (k + a * b)
        with np.errstate(divide="ignore", invalid="ignore"):
            cc = b / (1.0 - rho * (1.0 - b))
        return np.clip(np.nan_to_num(cc, nan=1.0), 0.0, 1.0)

    def tail(self, rho: np.ndarray, t_s: np.ndarray | float) -> np.ndarray:
        """P(T > t) for per-pod utilisation ``rho`` (< 1), t in seconds (excluding network_ms)."""
        mu = self.mu
        theta = self.workers_per_pod * mu * (1.0 - rho)
        cc = self.erlang_c(rho)
        t = np.asarray(t_s, dtype=float)
        e_mu = np.exp(-mu * t)
        diff = theta - mu
        near = np.abs(diff) < 1e-9 * mu
        safe = np.where(near, 1.0, diff)
        mixed = np.where(near, e_mu * (1.0 + mu * t), (theta * e_mu - mu * np.exp(-theta * t)) / safe)
        return np.clip((1.0 - cc) * e_mu + cc * mixed, 0.0, 1.0)

    def _p95_exact(self, rho: np.ndarray) -> np.ndarray:
        mu = self.mu
        theta = np.maximum(self.workers_per_pod * mu * (1.0 - rho), 1e-12)
        lo = np.zeros_like(rho)
        hi = 2.0 * math.log(40.0) / np.minimum(mu, theta)
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            above = self.tail(rho, mid) > 0.05
            lo = np.where(above, mid, lo)
            hi = np.where(above, hi, mid)
        return hi * 1000.0 + self.network_ms

    @cached_property
    def _tables(self) -> tuple[np.ndarray, np.ndarray]:
        rho = _RHO_GRID
        p95 = np.minimum(self._p95_exact(rho), self.timeout_ms)
        slo_s = max(self.slo_p95_ms - self.network_ms, 0.0) / 1000.0
        over = self.tail(rho, slo_s) if slo_s > 0 else np.ones_like(rho)
        # enforce monotonicity against rounding so verdicts and demand agree exactly
        return np.maximum.accumulate(p95), np.maximum.accumulate(over)

    @cached_property
    def rho_max_for_slo(self) -> float:
        """Highest per-pod utilisation at which the tabulated p95 still meets the SLO."""
        p95, _ = self._tables
        ok = np.nonzero(p95 <= self.slo_p95_ms)[0]
        return float(_RHO_GRID[ok[-1]]) if len(ok) else 0.0

    # ------------------------------------------------------------------ vectorised per tick
    def pod_metrics(self, demand: np.ndarray, ready: np.ndarray | int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cpu, memory, p95) per tick for ``ready`` > 0 pods (scalar or per-tick array)."""
        cap = self.capacity_rps
        per_pod = np.minimum(demand, cap * ready) / ready
        rho = per_pod / cap
        p95_t, _ = self._tables
        p95 = np.interp(rho, _RHO_GRID, p95_t)
        p95[(demand > cap * ready) | (rho >= _RHO_GRID[-1])] = self.timeout_ms
        cpu = (self.cpu_idle_cores + self.cpu_per_rps * per_pod) / self.cpu_request_cores
        mem = (self.memory_base_mb + self.memory_per_rps_mb * per_pod) / self.memory_limit_mb
        return cpu, mem, p95

    def per_tick(self, demand: np.ndarray, ready: np.ndarray) -> dict[str, np.ndarray]:
        """Everything the load does to ``ready`` pods, tick by tick (arrays of equal length)."""
        demand = np.asarray(demand, dtype=float)
        ready = np.asarray(ready)
        has = ready > 0
        safe = np.where(has, ready, 1)
        cap = self.capacity_rps
        served = np.where(has, np.minimum(demand, cap * safe), 0.0)
        dropped = demand - served
        cpu, mem, p95 = self.pod_metrics(demand, safe)
        rho = np.minimum(np.minimum(demand, cap * safe) / safe / cap, 1.0)
        _, over_t = self._tables
        over = np.where(has, np.interp(rho, _RHO_GRID, over_t), 0.0)
        p95 = np.where(has, p95, np.where(demand > 0, self.timeout_ms, np.nan))
        cpu = np.where(has, cpu, np.nan)
        mem = np.where(has, mem, np.nan)
        violation = (dropped > 0) | (np.nan_to_num(p95, nan=0.0) > self.slo_p95_ms)
        return {"served_rps": served, "dropped_rps": dropped, "p95_ms": p95, "over_slo_share": over,
                "cpu": cpu, "memory": mem, "sla_violation": violation}

    def violates(self, demand: np.ndarray, ready: np.ndarray) -> np.ndarray:
        """The SLA verdict of ``per_tick`` alone (same tables, same rules), cheaply."""
        has = ready > 0
        safe = np.where(has, ready, 1)
        cap = self.capacity_rps * safe
        rho = np.minimum(np.minimum(demand, cap) / cap, 1.0)
        p95_t, _ = self._tables
        p95 = np.interp(rho, _RHO_GRID, p95_t)
        over = (demand > cap) | (rho >= _RHO_GRID[-1]) | (p95 > self.slo_p95_ms)
        return np.where(has, over, (demand > 0) & (self.timeout_ms > self.slo_p95_ms)) | (has & (demand > cap))

    def demand_replicas(self, demand: np.ndarray) -> np.ndarray:
        """Fewest ready pods meeting the SLO (no drops, p95 <= SLO) at each tick's demand."""
        demand = np.asarray(demand, dtype=float)
        rho_star = self.rho_max_for_slo
        if rho_star <= 0:
            return np.where(demand > 0, np.iinfo(np.int32).max, 0).astype(np.int64)
        n = np.ceil(demand / (rho_star * self.capacity_rps) - 1e-12).astype(np.int64)
        n = np.maximum(n, (demand > 0).astype(np.int64))
        # exact verdicts from the same tables (the estimate is at most one too high, never low)
        while True:
            bad = self.violates(demand, n) & (demand > 0)
            if not bad.any():
                break
            n = n + bad
        while True:
            lower = np.maximum(n - 1, 0)
            ok = (n > 1) & ~self.violates(demand, lower)
            if not ok.any():
                return n
            n = np.where(ok, lower, n)
