"""Oscillation: scale events, reversals and flaps on the desired replica count."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.scoring import oscillation

O = oscillation.Oscillation


@pytest.mark.parametrize(
    ("desired", "initial", "dt", "window", "expected"),
    [
        pytest.param([2, 2, 2], 2, 60.0, 600.0, O(0, 0, 0, 0, 0), id="constant-at-initial"),
        pytest.param([3, 3, 3], 2, 60.0, 600.0, O(1, 1, 0, 0, 0), id="first-tick-compared-with-initial-up"),
        pytest.param([1, 1], 2, 60.0, 600.0, O(1, 0, 1, 0, 0), id="first-tick-compared-with-initial-down"),
        pytest.param([3, 4, 5], 2, 60.0, 600.0, O(3, 3, 0, 0, 0), id="monotone-up-no-reversal"),
        pytest.param([3, 2, 3], 2, 60.0, 600.0, O(3, 2, 1, 2, 2), id="up-down-up-two-flaps"),
        pytest.param([3, 3, 4, 4, 5, 3], 2, 60.0, 600.0, O(4, 3, 1, 1, 1), id="runs-of-ups-then-down"),
        pytest.param([3] * 11 + [2], 2, 60.0, 600.0, O(2, 1, 1, 1, 0), id="reversal-660s-apart-no-flap"),
        pytest.param([3] * 10 + [2], 2, 60.0, 600.0, O(2, 1, 1, 1, 1), id="reversal-exactly-window-is-flap"),
        pytest.param([3, 2, 3, 2], 2, 60.0, 0.0, O(4, 2, 2, 3, 0), id="zero-window-no-flaps"),
        pytest.param([5, 1, 1, 5], 5, 1.0, 600.0, O(2, 1, 1, 1, 1), id="big-steps-count-once"),
        pytest.param([], 2, 60.0, 600.0, O(0, 0, 0, 0, 0), id="empty"),
    ],
)
def test_oscillation(desired, initial, dt, window, expected):
    assert oscillation.oscillation(np.array(desired, dtype=np.int64), dt, initial, window) == expected


def test_window_comparison_tolerates_float_rounding():
    # 3 ticks of 0.1 s are 0.30000000000000004 s in floating point
    assert oscillation.oscillation(np.array([2, 2, 2, 1]), 0.1, 1, 0.3).flaps == 1
