"""Calibration on history fetched from a real Prometheus: the simulator's 6-hour run, rendered as
raw metrics (counters, gauges, a duration histogram) and backfilled, fetched through the default
bindings, recovers the service model that produced it (the end-to-end "my Prometheus -> model")."""

from __future__ import annotations

import pytest

from workbench import calibration
from workbench.sources import bindings, fetch
from workbench.sources.prometheus import Grid

from tests.prometheus.test_source import source


def test_fetched_history_recovers_the_simulated_service(prom, datasets, tmp_path):
    rec = datasets.sim.records
    start = int(rec["time"].iloc[0].timestamp())
    grid = Grid.spanning(start, start + (len(rec) - 1) * 15, 15)
    with source(prom.url) as src:
        got = fetch.fetch(src, bindings.defaults("sim", "shop").render(), grid, max_points=600)
    path = fetch.write_parquet(got, tmp_path / "history.parquet")
    cal = calibration.calibrate(calibration.load_history(path), slo_p95_ms=500.0)
    # the scenario in tests/prometheus/data.py: cpu 0.05 + 0.0075 x, memory 300 + 1.5 x MB,
    # M/M/3 with 25 ms service time (capacity 120 req/s per pod), network 5 ms
    # Stated tolerances for history that went through Prometheus (rate() windows, a bucketed
    # histogram, 6 scale events in 6 hours, per-pod load only in a narrow band):
    assert cal.cpu.slope == pytest.approx(0.0075, rel=0.05)          # CPU per req/s within 5%
    assert cal.cpu.intercept == pytest.approx(0.05, abs=0.025)      # idle CPU within 0.025 cores
    assert cal.cpu.r2 > 0.99
    assert cal.latency.capacity_rps == pytest.approx(120, rel=0.15)  # capacity within 15%
    # Memory is an instantaneous gauge regressed on a 2-minute rate over a narrow load band: the
    # fit is weak and says so (low R2) — the slope is attenuated, the level is right.
    assert cal.memory.r2 < 0.9
    assert cal.memory.intercept + cal.memory.slope * 75 == pytest.approx(300 + 1.5 * 75, rel=0.03)
