"""SLA misses: seconds in violation, share of requests late or dropped, dropped requests."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.scoring import sla

NAN = float("nan")


@pytest.mark.parametrize(
    ("demand", "served", "dropped", "share", "violation", "dt", "expected"),
    [
        pytest.param([10, 10], [10, 10], [0, 0], [0, 0], [False, False], 2.0,
                     sla.SlaSummary(0.0, 0.0, 0.0), id="all-good"),
        pytest.param([10, 10], [10, 5], [0, 5], [0, 0], [False, True], 2.0,
                     sla.SlaSummary(2.0, 0.25, 10.0), id="dropped-only"),
        pytest.param([10, 10], [10, 10], [0, 0], [0.5, 0], [True, False], 2.0,
                     sla.SlaSummary(2.0, 0.25, 0.0), id="late-only"),
        pytest.param([10, 20], [10, 10], [0, 10], [0.5, 1.0], [True, True], 1.0,
                     sla.SlaSummary(2.0, 25 / 30, 10.0), id="late-and-dropped"),
        pytest.param([0, 4], [0, 0], [0, 4], [NAN, NAN], [False, True], 2.0,
                     sla.SlaSummary(2.0, 1.0, 8.0), id="nothing-served-share-nan-ignored"),
        pytest.param([0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0], [False, False, False], 60.0,
                     sla.SlaSummary(0.0, 0.0, 0.0), id="no-demand-share-zero"),
        pytest.param([], [], [], [], [], 60.0, sla.SlaSummary(0.0, 0.0, 0.0), id="empty"),
    ],
)
def test_sla_summary(demand, served, dropped, share, violation, dt, expected):
    result = sla.sla_summary(
        np.array(demand, dtype=float), np.array(served, dtype=float), np.array(dropped, dtype=float),
        np.array(share, dtype=float), np.array(violation, dtype=bool), dt,
    )
    assert result.violation_seconds == expected.violation_seconds
    assert result.violation_request_share == pytest.approx(expected.violation_request_share, rel=1e-12)
    assert result.dropped_requests == expected.dropped_requests
