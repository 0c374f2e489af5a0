"""Synthetic metrics histories with known service parameters, for the calibration tests.

Load: a diurnal rate with 5% noise. Replicas: piecewise constant over 20-minute blocks, sized so
each block runs at a random target utilisation (so per-pod load spreads over the whole curve).
CPU and memory follow known linear laws in the *served* per-pod load plus additive noise; p95
comes from ``ServiceModel.per_tick`` (the simulator's own model) with multiplicative noise; an
overloaded sample's p95 is the timeout exactly, as in the simulator and a histogram's top bucket.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from workbench.sim.service import ServiceModel

MIB = 1024.0 * 1024.0


@dataclass(frozen=True)
class Truth:
    workers: int = 4
    service_time_ms: float = 40.0
    network_ms: float = 8.0
    cpu_idle: float = 0.08
    cpu_per_rps: float = 0.009
    mem_base_mb: float = 250.0
    mem_per_rps_mb: float = 2.0
    timeout_ms: float = 30000.0

    @property
    def model(self) -> ServiceModel:
        return ServiceModel(workers_per_pod=self.workers, service_time_ms=self.service_time_ms,
                            network_ms=self.network_ms, timeout_ms=self.timeout_ms,
                            cpu_idle_cores=self.cpu_idle, cpu_per_rps=self.cpu_per_rps,
                            memory_base_mb=self.mem_base_mb, memory_per_rps_mb=self.mem_per_rps_mb)

    @property
    def capacity(self) -> float:
        return self.workers * 1000.0 / self.service_time_ms


def history(truth: Truth = Truth(), *, days: float = 3.0, step: float = 60.0, p95_noise: float = 0.05,
            cpu_noise: float = 0.01, mem_noise_mb: float = 4.0, rho: tuple[float, float] = (0.1, 0.93),
            nan_share: float = 0.0, seed: int = 1, start: str = "2024-03-01T00:00:00Z") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = int(days * 86400 / step)
    t = np.arange(n) * step
    qps = 1500.0 * (1.0 + 0.6 * np.sin(2 * np.pi * t / 86400.0)) * np.exp(rng.normal(0, 0.05, n))
    block = (t // 1200).astype(np.int64)
    blocks = block.max() + 1
    target = rng.uniform(*rho, blocks)
    mean_q = np.bincount(block, weights=qps) / np.bincount(block)
    replicas = np.maximum(1, np.ceil(mean_q / (target * truth.capacity)))[block].astype(float)
    m = truth.model
    tick = m.per_tick(qps, replicas.astype(np.int64))
    served = tick["served_rps"] / replicas
    p95 = tick["p95_ms"].copy()
    ok = p95 < truth.timeout_ms
    p95[ok] *= np.exp(rng.normal(0, p95_noise, int(ok.sum())))
    cpu = truth.cpu_idle + truth.cpu_per_rps * served + rng.normal(0, cpu_noise, n)
    mem = truth.mem_base_mb + truth.mem_per_rps_mb * served + rng.normal(0, mem_noise_mb, n)
    frame = pd.DataFrame({
        "timestamp": pd.Timestamp(start) + pd.to_timedelta(t, unit="s"),
        "qps": qps, "replicas": replicas, "cpu_cores": np.maximum(cpu, 0.0),
        "memory_bytes": np.maximum(mem, 0.0) * MIB, "p95_ms": p95,
    })
    if nan_share:
        for col in ("qps", "replicas", "cpu_cores", "memory_bytes", "p95_ms"):
            frame.loc[rng.random(n) < nan_share, col] = np.nan
    return frame


def from_records(records: pd.DataFrame, cpu_request: float, memory_limit_mb: float) -> pd.DataFrame:
    """A history as ``scalelab fetch`` would record it from a simulated backtest's true per-tick metrics."""
    return pd.DataFrame({
        "timestamp": records["time"],
        "qps": records["demand_rps"],
        "replicas": records["ready_replicas"].astype(float),
        "cpu_cores": records["cpu"] * cpu_request,
        "memory_bytes": records["memory"] * memory_limit_mb * MIB,
        "p95_ms": records["p95_ms"],
    })
