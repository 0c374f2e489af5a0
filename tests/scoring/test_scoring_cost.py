"""Cost: replica-seconds -> replica-hours -> currency."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.scoring import cost


@pytest.mark.parametrize(
    ("billed", "dt", "price", "hours", "currency"),
    [
        pytest.param([1, 2, 3.5], 60.0, 0.04, 6.5 * 60 / 3600, 6.5 * 60 / 3600 * 0.04, id="three-ticks"),
        pytest.param([2.0] * 120, 30.0, 1.0, 2.0, 2.0, id="two-pods-one-hour"),
        pytest.param([0.0, 0.0], 15.0, 0.04, 0.0, 0.0, id="nothing-billed"),
        pytest.param([], 15.0, 0.04, 0.0, 0.0, id="empty"),
        pytest.param([4.0] * 60, 60.0, 0.0, 4.0, 0.0, id="free"),
    ],
)
def test_cost(billed, dt, price, hours, currency):
    result = cost.cost(np.array(billed, dtype=np.float64), dt, price)
    assert result == cost.Cost(replica_hours=pytest.approx(hours, rel=1e-12), currency=pytest.approx(currency, rel=1e-12))
    assert isinstance(result.replica_hours, float) and isinstance(result.currency, float)


def test_replica_seconds_is_additive_over_concatenated_runs():
    first, second = np.array([1.0, 2.5]), np.array([3.0])
    assert cost.replica_seconds(np.concatenate((first, second)), 10.0) == (
        cost.replica_seconds(first, 10.0) + cost.replica_seconds(second, 10.0)
    )
