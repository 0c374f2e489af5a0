"""HPAPolicy YAML: quantities, defaults, and every validation problem with its path."""

from __future__ import annotations

from fractions import Fraction

import pytest

from _hpa_support import load
from workbench.core import errors
from workbench.core.policies import hpa_behavior, hpa_spec

# ----------------------------------------------------------------------------- quantities

QUANTITIES = [
    ("100", 100_000), ("500m", 500), ("2k", 2_000_000), ("1.5", 1500), ("1Gi", 1_073_741_824_000),
    ("50m", 50), ("0.05", 50), (".5", 500), ("5.", 5000), ("+5", 5000), ("1e3", 1_000_000), ("1E-3", 1),
    ("1Ki", 1_024_000), ("1M", 1_000_000_000), ("1n", 1), ("1500u", 2), (" 7 ", 7000),
    (2, 2000), (0.05, 50), (1.5, 1500), (0, 0), ("-2", -2000),
]


@pytest.mark.parametrize("raw,milli", QUANTITIES, ids=[repr(q[0]) for q in QUANTITIES])
def test_quantity_to_milli_rounds_up_like_MilliValue(raw, milli):
    q = hpa_spec.parse_quantity(raw)
    assert q is not None
    assert hpa_spec.milli_value(q) == milli


@pytest.mark.parametrize("raw", ["10x", "", "1.2.3", "k", "Gi1", "1 k", "e3", "1e", "0x10", True, None, [1], float("nan")],
                         ids=repr)
def test_invalid_quantities(raw):
    assert hpa_spec.parse_quantity(raw) is None


def test_quantity_exact_value():
    assert hpa_spec.parse_quantity("1.1") == Fraction(11, 10)
    assert hpa_spec.parse_quantity("1E") == 10**18        # exa, not an exponent


# -------------------------------------------------------------------------- valid documents


def test_full_spec_parses_with_api_defaults_on_a_present_behavior():
    spec = load("""
scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: checkout}
minReplicas: 2
maxReplicas: 50
metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}
  - type: Pods
    pods: {metric: {name: qps}, target: {type: AverageValue, averageValue: "100"}}
  - type: External
    external: {metric: {name: queue_depth}, target: {type: AverageValue, averageValue: 500m}}
  - type: Object
    object: {describedObject: {kind: Service, name: x}, metric: {name: hits}, target: {type: Value, value: 2k}}
  - type: ContainerResource
    containerResource: {name: memory, container: app, target: {type: AverageValue, averageValue: 1Gi}}
behavior:
  scaleDown: {stabilizationWindowSeconds: 60, policies: [{type: Pods, value: 1, periodSeconds: 30}], tolerance: 50m}
controller: {tolerance: 0.2, downscaleStabilizationSeconds: 5m, scaleUpLimitFactor: 3}
""")
    assert (spec.kind, spec.name, spec.min_replicas, spec.max_replicas) == ("HPAPolicy", "t", 2, 50)
    assert [m.key for m in spec.metrics] == ["resource/cpu", "pods/qps", "external/queue_depth", "object/hits",
                                            "containerresource/app/memory"]
    assert spec.metrics[1].target.average_value_milli == 100_000
    assert spec.metrics[2].target.average_value_milli == 500
    assert spec.metrics[3].target.value_milli == 2_000_000
    assert spec.metrics[3].described_object == "Service/x"
    assert spec.metrics_needed() == {"cpu", "qps", "queue_depth", "hits", "memory"}
    up, down = spec.behavior.scale_up, spec.behavior.scale_down
    assert up == hpa_behavior.ScalingRules(0, "Max", (hpa_behavior.ScalingPolicy("Pods", 4, 15),
                                                      hpa_behavior.ScalingPolicy("Percent", 100, 15)), None)
    assert down == hpa_behavior.ScalingRules(60, "Max", (hpa_behavior.ScalingPolicy("Pods", 1, 30),), 0.05)
    assert spec.controller.tolerance == 0.2 and spec.controller.downscale_stabilization == 300
    assert spec.controller.scale_up_limit_factor == 3 and spec.controller.scale_up_limit_minimum == 4
    assert spec.tolerances() == (0.05, 0.2)


def test_minimal_spec_defaults():
    spec = load("maxReplicas: 5")
    assert spec.min_replicas == 1
    assert spec.metrics == hpa_spec.DEFAULT_METRICS
    assert spec.metrics[0].target.average_utilization == 80
    assert spec.behavior is None                      # absent behavior = legacy path, not default behavior
    assert spec.controller == hpa_behavior.ControllerFlags()
    assert spec.tolerances() == (0.1, 0.1)


@pytest.mark.parametrize("text", ["maxReplicas: 5\nbehavior: null", "maxReplicas: 5\nmetrics: []"])
def test_null_behavior_is_legacy_and_empty_metrics_default(text):
    spec = load(text)
    assert spec.behavior is None and spec.metrics == hpa_spec.DEFAULT_METRICS


def test_empty_behavior_is_fully_defaulted_behavior():
    spec = load("maxReplicas: 5\nbehavior: {}")
    assert spec.behavior == hpa_behavior.Behavior(hpa_behavior.scale_up_rules(None), hpa_behavior.scale_down_rules(None))
    assert spec.behavior.scale_down.stabilization_window_seconds is None   # -> controller flag at decide time


def test_scale_to_zero_allowed_with_external_metric():
    spec = load("""
minReplicas: 0
maxReplicas: 3
metrics: [{type: External, external: {metric: {name: q}, target: {type: Value, value: 10}}}]
""")
    assert spec.min_replicas == 0


# ---------------------------------------------------------------------------------- errors

ERRORS = [
    ("missing-max", "minReplicas: 1", [("spec", "missing required key 'maxReplicas'")]),
    ("min-above-max", "minReplicas: 5\nmaxReplicas: 3",
     [("spec.maxReplicas", "must be greater than or equal to minReplicas (5), got 3")]),
    ("max-zero", "maxReplicas: 0", [("spec.maxReplicas", "must be >= 1, got 0")]),
    ("min-fraction", "minReplicas: 2.5\nmaxReplicas: 3", [("spec.minReplicas", "expected an integer, got 2.5")]),
    ("min-zero-without-object", "minReplicas: 0\nmaxReplicas: 3",
     [("spec.minReplicas", "0 needs at least one Object or External metric (scaling to zero replicas)")]),
    ("unknown-key", "maxReplicas: 3\nmaxReplica: 4", [("spec.maxReplica", "unknown key 'maxReplica'; did you mean 'maxReplicas'?")]),
    ("scale-target-ref-key", "maxReplicas: 3\nscaleTargetRef: {kind: D, name: x, color: red}",
     [("spec.scaleTargetRef.color", "unknown key 'color' (allowed: apiVersion, kind, name)")]),
    ("metric-type", "maxReplicas: 3\nmetrics: [{type: Foo}]",
     [("spec.metrics[0].type", "must be one of Resource, ContainerResource, Pods, Object, External, got 'Foo'")]),
    ("metric-source-missing", "maxReplicas: 3\nmetrics: [{type: Pods}]",
     [("spec.metrics[0]", "missing required key 'pods' for type Pods")]),
    ("metric-wrong-source", "maxReplicas: 3\nmetrics: [{type: Pods, resource: {name: cpu}, pods: {metric: {name: q}, target: {type: AverageValue, averageValue: 1}}}]",
     [("spec.metrics[0].resource", "must not be set when type is Pods (set 'pods')")]),
    ("resource-name", "maxReplicas: 3\nmetrics: [{type: Resource, resource: {name: cpuu, target: {type: Utilization, averageUtilization: 50}}}]",
     [("spec.metrics[0].resource.name", "unknown resource 'cpuu' (known: cpu, memory)")]),
    ("utilization-zero", "maxReplicas: 3\nmetrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 0}}}]",
     [("spec.metrics[0].resource.target.averageUtilization", "must be >= 1, got 0")]),
    ("pods-value-target", "maxReplicas: 3\nmetrics: [{type: Pods, pods: {metric: {name: q}, target: {type: Value, value: 1}}}]",
     [("spec.metrics[0].pods.target.type", "must be one of AverageValue, got 'Value'")]),
    ("target-field-missing", "maxReplicas: 3\nmetrics: [{type: External, external: {metric: {name: q}, target: {type: Value, averageValue: 1}}}]",
     [("spec.metrics[0].external.target.averageValue", "not used with target type Value (set 'value')"),
      ("spec.metrics[0].external.target", "missing required key 'value' for target type Value")]),
    ("bad-quantity", "maxReplicas: 3\nmetrics: [{type: External, external: {metric: {name: q}, target: {type: Value, value: 10x}}}]",
     [("spec.metrics[0].external.target.value",
       "invalid quantity '10x' (expected a number or a Kubernetes quantity like 500m, 2k, 1.5, 1Gi)")]),
    ("non-positive-quantity", "maxReplicas: 3\nmetrics: [{type: Pods, pods: {metric: {name: q}, target: {type: AverageValue, averageValue: '0'}}}]",
     [("spec.metrics[0].pods.target.averageValue", "must be positive, got '0'")]),
    ("object-needs-described", "maxReplicas: 3\nmetrics: [{type: Object, object: {metric: {name: q}, target: {type: Value, value: 1}}}]",
     [("spec.metrics[0].object", "missing required key 'describedObject'")]),
    ("metric-name", "maxReplicas: 3\nmetrics: [{type: Pods, pods: {metric: {}, target: {type: AverageValue, averageValue: 1}}}]",
     [("spec.metrics[0].pods.metric", "missing required key 'name'")]),
    ("window-too-long", "maxReplicas: 3\nbehavior: {scaleDown: {stabilizationWindowSeconds: 3601}}",
     [("spec.behavior.scaleDown.stabilizationWindowSeconds", "must be <= 3600, got 3601")]),
    ("window-negative", "maxReplicas: 3\nbehavior: {scaleUp: {stabilizationWindowSeconds: -1}}",
     [("spec.behavior.scaleUp.stabilizationWindowSeconds", "must be >= 0, got -1")]),
    ("select-policy", "maxReplicas: 3\nbehavior: {scaleUp: {selectPolicy: max}}",
     [("spec.behavior.scaleUp.selectPolicy", "must be one of Max, Min, Disabled, got 'max'")]),
    ("empty-policies", "maxReplicas: 3\nbehavior: {scaleUp: {policies: []}}",
     [("spec.behavior.scaleUp.policies", "needs at least 1 item")]),
    ("policy-fields", "maxReplicas: 3\nbehavior: {scaleDown: {policies: [{type: Pod, value: 0, periodSeconds: 1801}]}}",
     [("spec.behavior.scaleDown.policies[0].type", "must be one of Pods, Percent, got 'Pod'"),
      ("spec.behavior.scaleDown.policies[0].value", "must be > 0, got 0"),
      ("spec.behavior.scaleDown.policies[0].periodSeconds", "must be <= 1800, got 1801")]),
    ("policy-period-zero", "maxReplicas: 3\nbehavior: {scaleDown: {policies: [{type: Pods, value: 1, periodSeconds: 0}]}}",
     [("spec.behavior.scaleDown.policies[0].periodSeconds", "must be >= 1, got 0")]),
    ("policy-missing", "maxReplicas: 3\nbehavior: {scaleDown: {policies: [{type: Pods}]}}",
     [("spec.behavior.scaleDown.policies[0]", "missing required key 'value'"),
      ("spec.behavior.scaleDown.policies[0]", "missing required key 'periodSeconds'")]),
    ("tolerance-negative", "maxReplicas: 3\nbehavior: {scaleUp: {tolerance: '-50m'}}",
     [("spec.behavior.scaleUp.tolerance", "must be >= 0, got '-50m'")]),
    ("controller", "maxReplicas: 3\ncontroller: {tolerance: abc, scaleUpLimitFactor: 0, cpuInitializationPeriodSeconds: soon, sync: 1}",
     [("spec.controller.sync", "unknown key 'sync' (allowed: tolerance, downscaleStabilizationSeconds, "
       "cpuInitializationPeriodSeconds, initialReadinessDelaySeconds, scaleUpLimitFactor, scaleUpLimitMinimum)"),
      ("spec.controller.tolerance", "invalid quantity 'abc' (expected a number or a Kubernetes quantity like 500m, 2k, 1.5, 1Gi)"),
      ("spec.controller.cpuInitializationPeriodSeconds",
       "expected a duration (seconds, or like '90s', '3m', '1h'), got 'soon'"),
      ("spec.controller.scaleUpLimitFactor", "must be > 0, got 0")]),
]


@pytest.mark.parametrize("text,problems", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_parse_errors_report_every_problem_with_its_path(text, problems):
    with pytest.raises(errors.SpecError) as info:
        load(text)
    assert [(p.path, p.message) for p in info.value.problems] == problems


def test_problems_carry_file_and_line():
    with pytest.raises(errors.SpecError) as info:
        load("maxReplicas: 3\nbehavior:\n  scaleUp: {selectPolicy: Sometimes}")
    assert str(info.value.problems[0]) == \
        "policy.yaml:7: spec.behavior.scaleUp.selectPolicy: must be one of Max, Min, Disabled, got 'Sometimes'"
