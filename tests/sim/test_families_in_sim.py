"""Policy families other than TieredPolicy run in the simulator with what they need (pod views
for the HPA) and converge where their algorithm says they must."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from workbench import backtest
from workbench.core import loading
from workbench.sim import pods
from workbench.sim.load import Load

from tests.sim.test_engine import make_scenario

HPA = """apiVersion: scalelab/v1
kind: HPAPolicy
metadata: {name: hpa}
spec:
  minReplicas: 1
  maxReplicas: 40
  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: %d}}}]
  %s
"""


def run_hpa(target, behavior, demand, initial=2, startup=30.0):
    policy = backtest.LoadedPolicy(loading.load_policy_text(HPA % (target, behavior), "h.yaml"), "h.yaml", "")
    scenario = make_scenario(startup=pods.StartupDistribution("fixed", startup), initial=initial, delay=0.0,
                             window=15.0)
    # CPU-bound service: 1 core request, 1.25 cores busy at full capacity (limit above request)
    scenario = dataclasses.replace(scenario, service=dataclasses.replace(scenario.service, cpu_per_rps=0.01))
    return backtest.run(policy, scenario, load=Load(start=1.7e9, dt=15.0, demand=np.asarray(demand, float)))


@pytest.mark.parametrize("target, behavior", [(60, "behavior: {}"), (60, ""), (80, "behavior: {}")],
                         ids=["cpu60-default-behavior", "cpu60-legacy", "cpu80-default-behavior"])
def test_hpa_converges_to_its_fixed_point_on_constant_load(target, behavior):
    result = run_hpa(target, behavior, [600.0] * 120)
    rec = result.records
    final = int(rec["desired_replicas"].iloc[-1])
    # per-pod CPU of the service at n pods: idle 0.05 + 0.01 * served/n cores (request 1 core)
    util = lambda n: math.floor(100 * (0.05 + 0.01 * min(600, 120 * n) / n))
    # at the fixed point the usage ratio is within the 10% tolerance
    assert abs(util(final) / target - 1) <= 0.1 + 1e-9
    assert rec["ready_replicas"].iloc[-1] == final
    assert set(rec["reason"].astype(str)) <= {"SCALED", "WITHIN_TOLERANCE", "RATE_LIMITED", "STABILIZED_DOWN"}
    assert rec["reason"].iloc[0] in ("SCALED", "RATE_LIMITED")  # initial pods are past CPU initialization
    assert result.scores["sla_violation_seconds"] == 0 or rec["sla_violation"].iloc[-20:].sum() == 0


def test_hpa_legacy_path_caps_scale_up_at_max_of_double_or_four():
    # a sudden 10x step from 2 pods: legacy path allows max(2*current, 4) per sync
    result = run_hpa(60, "", [100.0] * 4 + [1500.0] * 40, initial=2, startup=300.0)
    rec = result.records
    ups = rec[rec["change"] > 0]
    first = ups.iloc[0]
    assert int(first["desired_replicas"]) == 4        # 2 -> max(4, 4)
    assert first["reason"] == "RATE_LIMITED"


def test_starting_pods_are_not_counted_as_ready_by_the_hpa():
    # with a long start-up the HPA sees the same high utilisation on the ready pods but must not
    # keep multiplying by the pods still starting (they are Pending, hence unready)
    result = run_hpa(60, "behavior: {}", [100.0] * 4 + [900.0] * 20, initial=2, startup=600.0)
    rec = result.records
    assert rec["ready_replicas"].max() == 2          # nobody got ready within the run
    assert rec["desired_replicas"].max() <= 40
    assert rec["starting_replicas"].max() == rec["desired_replicas"].max() - 2
