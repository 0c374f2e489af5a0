"""The Pareto front of (cost, SLA misses), both minimised: exact on hand-made points; the figure."""

from __future__ import annotations

import math

import pandas as pd

from workbench.sweep.pareto import figure, pareto_front


def front(points):
    return [i for i, on in enumerate(pareto_front(points)) if on]


def test_front_of_hand_made_points():
    points = [(10, 5), (8, 7), (12, 1), (9, 9), (8, 8), (15, 0), (11, 5), (20, 0)]
    # (9,9) by (8,7); (8,8) by (8,7); (11,5) by (10,5); (20,0) by (15,0)
    assert front(points) == [0, 1, 2, 5]


def test_equal_points_are_all_on_the_front_and_ties_on_one_axis_are_not():
    assert front([(5, 5), (5, 5), (6, 1)]) == [0, 1, 2]
    assert front([(5, 5), (5, 6), (4, 5)]) == [2]         # (4,5) dominates both
    assert front([(5, 1), (6, 1), (1, 9)]) == [0, 2]      # same misses, higher cost: dominated


def test_a_single_point_and_none_or_nan():
    assert front([(3.0, 0.0)]) == [0]
    assert front([]) == []
    assert front([(None, 1), (1, math.nan), (2, 2), (3, 3)]) == [2]


def test_chain_is_entirely_on_the_front():
    pts = [(float(i), float(10 - i)) for i in range(11)]
    assert front(pts) == list(range(11))
    assert front(list(reversed(pts))) == list(range(11))


def test_figure_writes_a_png(tmp_path):
    table = pd.DataFrame({
        "variant": ["base", "v0001", "v0002", "v0003"], "is_base": [True, False, False, False],
        "cost_replica_hours": [10.0, 8.0, 12.0, None], "sla_violation_seconds": [3600.0, 7200.0, 0.0, None],
        "feasible": [True, False, True, False], "on_front": [True, True, True, False],
        "best": [False, False, True, False], "error": [None, None, None, "spec.limits.maxStepUp: must be >= 1, got 0"],
    })
    out = figure(table, tmp_path / "p.png", objective="min cost_replica_hours")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
