"""Normalization functions: window and period boundaries, legacy vs behavior, defaults, events."""

from __future__ import annotations

import pytest

from workbench.core.policies import hpa_behavior as hb

E, R = hb.ScaleEvent, hb.Recommendation
FLAGS = hb.ControllerFlags()


@pytest.mark.parametrize("t,counted", [(-60.0, False), (-59.999, True), (-60.001, False), (0.0, True)])
def test_event_exactly_on_the_period_boundary_does_not_count(t, counted):
    """ALGORITHM.md 5.2: ``e.t > now - P`` (strict). The vectors cannot catch counting the boundary."""
    assert hb.replicas_change_per_period(60, (E(3, t),), 0.0) == (3 if counted else 0)


def test_boundary_event_does_not_limit_the_next_scale_up():
    rules = hb.ScalingRules(0, "Max", (hb.ScalingPolicy("Pods", 2, 60),))
    # an event exactly one period ago is outside the period: start = current
    assert hb.scale_up_limit(10, (E(2, -60.0),), (), rules, 0.0) == 12
    assert hb.scale_up_limit(10, (E(2, -59.0),), (), rules, 0.0) == 10


def test_boundary_event_is_not_outdated_yet():
    assert hb.mark_outdated((E(1, -60.0),), 60, 0.0) == (E(1, -60.0, False),)
    assert hb.mark_outdated((E(1, -60.5),), 60, 0.0) == (E(1, -60.5, True),)


def test_store_reuses_the_last_outdated_slot():
    up = (E(7, -100.0), E(8, -90.0), E(9, -10.0))
    behavior = hb.default_behavior(hb.Behavior(hb.ScalingRules(policies=(hb.ScalingPolicy("Pods", 1, 60),)), None))
    new_up, new_down = hb.store_scale_event(behavior, up, (), 10, 13, 0.0)
    assert new_up == (E(7, -100.0, True), E(3, 0.0), E(9, -10.0))
    assert new_down == ()
    assert hb.store_scale_event(None, up, (), 10, 13, 0.0) == (up, ())   # legacy path stores nothing


def test_window_boundary_is_strict_on_the_behavior_path_and_inclusive_on_the_legacy_path():
    recs = (R(10, -300.0),)
    assert hb.stabilize_with_behaviors(recs, 10, 3, 0, 300, 0.0)[0] == 3        # t > now - W: not counted
    assert hb.stabilize_legacy(recs, 3, 300, 0.0)[0] == 10                       # t >= now - W: counted


def test_behavior_stabilization_clamps_current_not_desired():
    recs = (R(2, -10.0), R(8, -20.0))
    stab, stored = hb.stabilize_with_behaviors(recs, 5, 9, 60, 60, 0.0)
    assert stab == 5                            # recent recommendations straddle current: hold
    assert stored == recs + (R(9, 0.0),)        # the prenormalized desired is stored


def test_legacy_stabilization_can_lift_a_scale_up():
    assert hb.stabilize_legacy((R(10, -60.0),), 7, 300, 0.0)[0] == 10


@pytest.mark.parametrize("current,legacy,behavior", [(1, 4, 5), (2, 4, 6), (3, 6, 7), (4, 8, 8), (10, 20, 20)])
def test_legacy_cap_differs_from_default_behavior_cap(current, legacy, behavior):
    """Pitfall 1: absent behavior -> max(2c, 4) per sync; default behavior -> max(c + 4, 2c)."""
    assert hb.convert_with_rules(current, 1000, 1, 1000, FLAGS) == (legacy, "ScaleUpLimit")
    up, down = hb.scale_up_rules(None), hb.scale_down_rules(None)
    assert hb.convert_with_behavior_rate(current, 1000, 1, 1000, up, down, (), (), 0.0) == (behavior, "ScaleUpLimit")


def test_legacy_path_has_no_scale_down_rate_limit():
    assert hb.convert_with_rules(100, 1, 1, 1000, FLAGS) == (1, "DesiredWithinRange")
    up, down = hb.scale_up_rules(None), hb.scale_down_rules(None)
    assert hb.convert_with_behavior_rate(100, 1, 1, 1000, up, down, (), (), 0.0) == (1, "DesiredWithinRange")
    pods1 = hb.ScalingRules(0, "Max", (hb.ScalingPolicy("Pods", 1, 60),))
    assert hb.convert_with_behavior_rate(100, 1, 1, 1000, up, pods1, (), (), 0.0) == (99, "ScaleDownLimit")


@pytest.mark.parametrize("select,up_limit,down_limit", [("Max", 20, 5), ("Min", 14, 6), ("Disabled", 10, 10)])
def test_select_policy_is_about_the_size_of_the_change(select, up_limit, down_limit):
    rules = hb.ScalingRules(0, select, (hb.ScalingPolicy("Pods", 4, 60), hb.ScalingPolicy("Percent", 50, 60)))
    up_rules = hb.ScalingRules(0, select, (hb.ScalingPolicy("Pods", 4, 60), hb.ScalingPolicy("Percent", 100, 60)))
    assert hb.scale_up_limit(10, (), (), up_rules, 0.0) == up_limit
    assert hb.scale_down_limit(10, (), (), rules, 0.0) == down_limit


def test_period_start_counts_both_directions():
    rules = hb.ScalingRules(0, "Max", (hb.ScalingPolicy("Percent", 300, 300),))
    assert hb.scale_up_limit(6, (E(4, -60.0),), (E(2, -60.0),), rules, 0.0) == 16


def test_defaults_replace_policies_wholesale_and_keep_nil_down_window():
    mine = hb.ScalingRules(policies=(hb.ScalingPolicy("Pods", 1, 2),))
    assert hb.scale_up_rules(mine) == hb.ScalingRules(0, "Max", (hb.ScalingPolicy("Pods", 1, 2),), None)
    down = hb.scale_down_rules(None)
    assert down.stabilization_window_seconds is None
    assert hb.init_scale_down_window(down, FLAGS).stabilization_window_seconds == 300
    assert hb.default_behavior(None) is None


def test_tolerances_for_hpa_prefers_behavior_values():
    b = hb.Behavior(hb.ScalingRules(tolerance=0.01), None)
    assert hb.tolerances_for_hpa(b, FLAGS) == (0.1, 0.01)
    assert hb.tolerances_for_hpa(None, hb.ControllerFlags(tolerance=0.2)) == (0.2, 0.2)
