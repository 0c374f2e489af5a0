"""SPEC elasticity metrics (accuracy, timeshare, instability, jitter) on hand-built curves."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.scoring import elasticity

E = elasticity.Elasticity


@pytest.mark.parametrize(
    ("demand", "supply", "dt", "expected"),
    [
        pytest.param([1, 2, 3, 2], [1, 2, 3, 2], 60.0, E(0.0, 0.0, 0.0, 0.0, 0.0, 0.0), id="perfect-tracking"),
        # gap s-d = [0,-1,1,3]; sgn ds = [0,1,0], sgn dd = [1,0,-1]; E_S=1, E_D=2 over 240 s
        pytest.param([1, 2, 2, 0], [1, 1, 3, 3], 60.0, E(12.5, 87.5, 25.0, 50.0, 100.0, -15.0), id="mixed"),
        # zero demand: divide by max(d, 1); ds=[-2], dd=[0]; E_S=1, E_D=0 over 20 s
        pytest.param([0, 0], [2, 0], 10.0, E(0.0, 100.0, 0.0, 50.0, 100.0, 180.0), id="idle-pods-at-zero-demand"),
        # supply lags demand by one tick: sgn ds = [0,1,1], sgn dd = [1,1,0] -> 2 of 3 steps apart
        pytest.param([1, 2, 3, 3], [1, 1, 2, 3], 3600.0, E(100 / 4 * (1 / 2 + 1 / 3), 0.0, 50.0, 0.0,
                                                           200 / 3, 0.0), id="lagging-supply"),
        pytest.param([4, 4, 4], [5, 3, 5], 1.0, E(100 / 3 * (1 / 4), 100 / 3 * (2 / 4), 100 / 3, 200 / 3,
                                                  100.0, 2 * 3600 / 3), id="supply-jitters"),
        pytest.param([2], [1], 60.0, E(50.0, 0.0, 100.0, 0.0, None, 0.0), id="single-tick-instability-undefined"),
        pytest.param([], [], 60.0, E(None, None, None, None, None, None), id="empty"),
    ],
)
def test_spec_metrics(demand, supply, dt, expected):
    result = elasticity.spec_metrics(np.array(demand, dtype=np.int64), np.array(supply, dtype=np.int64), dt)
    for name in ("theta_u", "theta_o", "tau_u", "tau_o", "instability", "jitter"):
        got, want = getattr(result, name), getattr(expected, name)
        if want is None:
            assert got is None, name
        else:
            assert got == pytest.approx(want, rel=1e-12, abs=1e-12), name
            assert type(got) is float, name


def test_timeshares_partition_time():
    rng = np.random.default_rng(3)
    d, s = rng.integers(0, 6, 500), rng.integers(0, 6, 500)
    result = elasticity.spec_metrics(d, s, 15.0)
    balanced = 100.0 * np.mean(d == s)
    assert result.tau_u + result.tau_o + balanced == pytest.approx(100.0)
    assert 0.0 <= result.theta_u <= 100.0
