"""``HPAPolicy`` spec: frozen dataclasses, Kubernetes quantities, and the YAML parser.

The ``spec:`` of an ``HPAPolicy`` document is an autoscaling/v2 ``HorizontalPodAutoscalerSpec``
(so an existing HPA's spec can be pasted in) plus an optional scalelab ``controller:`` block for
the kube-controller-manager flags::

    spec:
      scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: checkout}   # allowed, ignored
      minReplicas: 2                        # default 1; 0 needs an Object or External metric
      maxReplicas: 50                       # required
      metrics:                              # default: cpu Utilization 80
        - {type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}}
        - {type: ContainerResource, containerResource: {name: cpu, container: app, target: {...}}}
        - {type: Pods, pods: {metric: {name: qps}, target: {type: AverageValue, averageValue: "100"}}}
        - {type: Object, object: {describedObject: {kind: Service, name: x}, metric: {name: qps},
                                  target: {type: Value, value: 2k}}}
        - {type: External, external: {metric: {name: queue_depth}, target: {type: Value, value: "500"}}}
      behavior:                             # absent = the legacy path (ALGORITHM.md section 4)
        scaleUp: {stabilizationWindowSeconds: 0, selectPolicy: Max,
                  policies: [{type: Pods, value: 4, periodSeconds: 15}], tolerance: "0.05"}
        scaleDown: {...}
      controller: {tolerance: 0.1, downscaleStabilizationSeconds: 300, cpuInitializationPeriodSeconds: 300,
                   initialReadinessDelaySeconds: 30, scaleUpLimitFactor: 2, scaleUpLimitMinimum: 4}

Quantities (targets, tolerances) accept numbers or Kubernetes quantity strings ("100", "500m",
"2k", "1.5", "1Gi", "1e3") and are stored in milli-units rounded up, like ``Quantity.MilliValue()``.
Validation follows the Kubernetes API's (``validateHorizontalPodAutoscalerSpec``,
``validateScalingRules``, ``validateMetricTarget``); every problem is reported with its path.
A present ``behavior`` is API-defaulted at parse time (``hpa_behavior.default_behavior``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from workbench.core import schema
from workbench.core.policies import hpa_behavior, hpa_replicas

KIND = "HPAPolicy"

RESOURCE, CONTAINER_RESOURCE, PODS, OBJECT, EXTERNAL = "Resource", "ContainerResource", "Pods", "Object", "External"
SOURCE_KEYS = {RESOURCE: "resource", CONTAINER_RESOURCE: "containerResource", PODS: "pods",
               OBJECT: "object", EXTERNAL: "external"}
UTILIZATION, VALUE, AVERAGE_VALUE = "Utilization", "Value", "AverageValue"
TARGET_FIELDS = {UTILIZATION: "averageUtilization", VALUE: "value", AVERAGE_VALUE: "averageValue"}
TARGET_TYPES = {RESOURCE: (UTILIZATION, AVERAGE_VALUE), CONTAINER_RESOURCE: (UTILIZATION, AVERAGE_VALUE),
                PODS: (AVERAGE_VALUE,), OBJECT: (VALUE, AVERAGE_VALUE), EXTERNAL: (VALUE, AVERAGE_VALUE)}
RESOURCES = ("cpu", "memory")   # what the resource metrics API (metrics-server) serves
MAX_STABILIZATION_WINDOW = 3600
MAX_PERIOD_SECONDS = 1800


# ----------------------------------------------------------------------------- quantities

_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")
_SUFFIX = {None: Fraction(1), "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000),
           "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
           "P": Fraction(10**15), "E": Fraction(10**18), "Ki": Fraction(2**10), "Mi": Fraction(2**20),
           "Gi": Fraction(2**30), "Ti": Fraction(2**40), "Pi": Fraction(2**50), "Ei": Fraction(2**60)}
QUANTITY_HINT = "expected a number or a Kubernetes quantity like 500m, 2k, 1.5, 1Gi"


def parse_quantity(value: Any) -> Fraction | None:
    """The exact value of a Kubernetes quantity (string) or a YAML number; None when invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        return Fraction(repr(value)) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    m = _QUANTITY.match(value.strip())
    if not m:
        return None
    number, suffix = Fraction(m.group(1)), m.group(2)
    if suffix is not None and suffix[0] in "eE" and len(suffix) > 1:
        exp = int(suffix[1:])
        if abs(exp) > 100:
            return None
        return number * Fraction(10) ** exp
    return number * _SUFFIX[suffix]


def milli_value(q: Fraction) -> int:
    """``Quantity.MilliValue()``: the value x1000, rounded away from zero."""
    scaled = q * 1000
    return math.ceil(scaled) if scaled >= 0 else -math.ceil(-scaled)


# ---------------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class MetricTarget:
    """``MetricTarget``: ``type`` and the one field it uses (quantities in milli)."""

    type: str
    average_utilization: int | None = None
    value_milli: int | None = None
    average_value_milli: int | None = None


@dataclass(frozen=True)
class MetricSpec:
    """One ``MetricSpec``. ``name`` is the resource name (Resource/ContainerResource) or the metric name."""

    type: str
    name: str
    target: MetricTarget
    container: str | None = None
    described_object: str | None = None  # "Kind/name" (Object metrics), informational

    @property
    def key(self) -> str:
        """Stable label used as ``Decision.rule`` and in ``detail``: ``resource/cpu``, ``pods/qps``..."""
        if self.type == CONTAINER_RESOURCE:
            return f"containerresource/{self.container}/{self.name}"
        return f"{self.type.lower()}/{self.name}"


DEFAULT_METRICS = (MetricSpec(RESOURCE, "cpu", MetricTarget(UTILIZATION, average_utilization=80)),)


@dataclass(frozen=True)
class HPASpec:
    """A parsed ``HPAPolicy``. ``behavior`` is None for the legacy path, else API-defaulted."""

    name: str
    max_replicas: int
    min_replicas: int = 1
    metrics: tuple[MetricSpec, ...] = DEFAULT_METRICS
    behavior: hpa_behavior.Behavior | None = None
    controller: hpa_behavior.ControllerFlags = field(default_factory=hpa_behavior.ControllerFlags)
    kind: str = KIND

    def metrics_needed(self) -> frozenset[str]:
        return frozenset(m.name for m in self.metrics)

    def tolerances(self) -> hpa_replicas.Tolerances:
        return hpa_behavior.tolerances_for_hpa(self.behavior, self.controller)


# --------------------------------------------------------------------------------- parse

_SPEC_KEYS = ("scaleTargetRef", "minReplicas", "maxReplicas", "metrics", "behavior", "controller")
_CONTROLLER_KEYS = ("tolerance", "downscaleStabilizationSeconds", "cpuInitializationPeriodSeconds",
                    "initialReadinessDelaySeconds", "scaleUpLimitFactor", "scaleUpLimitMinimum")
_j = schema.join


def _given(d: dict, key: str) -> bool:
    """A key counts as set when present and not null (JSON/YAML null = unset, as in the API)."""
    return isinstance(d, dict) and d.get(key) is not None


def parse(reader: schema.Reader, spec: Any, path: str, name: str) -> HPASpec:
    """Build an ``HPASpec`` from the ``spec:`` mapping, recording every problem in ``reader``."""
    spec = reader.mapping(spec, path, _SPEC_KEYS, required=("maxReplicas",))
    if _given(spec, "scaleTargetRef"):
        reader.mapping(spec["scaleTargetRef"], _j(path, "scaleTargetRef"), ("apiVersion", "kind", "name"))
    before = len(reader.problems)
    lo = reader.number(spec, "minReplicas", path, 1, minimum=0, integer=True) if _given(spec, "minReplicas") else 1
    hi = reader.number(spec, "maxReplicas", path, 1, minimum=1, integer=True)
    bounds_ok = len(reader.problems) == before
    metrics = DEFAULT_METRICS
    if _given(spec, "metrics"):
        mp = _j(path, "metrics")
        items = reader.seq(spec["metrics"], mp)
        parsed = [_parse_metric(reader, item, _j(mp, i)) for i, item in enumerate(items)]
        if items:
            metrics = tuple(m for m in parsed if m is not None)
    if bounds_ok and lo > hi:
        reader.error(_j(path, "maxReplicas"), f"must be greater than or equal to minReplicas ({lo}), got {hi}")
    if bounds_ok and lo == 0 and not any(m.type in (OBJECT, EXTERNAL) for m in metrics):
        reader.error(_j(path, "minReplicas"),
                     "0 needs at least one Object or External metric (scaling to zero replicas)")
    behavior = None
    if _given(spec, "behavior"):
        behavior = hpa_behavior.default_behavior(_parse_behavior(reader, spec["behavior"], _j(path, "behavior")))
    flags = _parse_controller(reader, spec.get("controller"), _j(path, "controller")) \
        if _given(spec, "controller") else hpa_behavior.ControllerFlags()
    return HPASpec(name=name, max_replicas=hi, min_replicas=lo, metrics=metrics, behavior=behavior, controller=flags)


def _parse_metric(reader: schema.Reader, item: Any, path: str) -> MetricSpec | None:
    m = reader.mapping(item, path, ("type",) + tuple(SOURCE_KEYS.values()), required=("type",))
    mtype = reader.string(m, "type", path, "", choices=SOURCE_KEYS) if "type" in m else ""
    if mtype not in SOURCE_KEYS:
        return None
    src_key = SOURCE_KEYS[mtype]
    for other in SOURCE_KEYS.values():
        if other != src_key and other in m:
            reader.error(_j(path, other), f"must not be set when type is {mtype} (set '{src_key}')")
    if src_key not in m:
        reader.error(path, f"missing required key '{src_key}' for type {mtype}")
        return None
    sp = _j(path, src_key)
    container = described = None
    if mtype in (RESOURCE, CONTAINER_RESOURCE):
        keys = ("name", "target") if mtype == RESOURCE else ("name", "container", "target")
        src = reader.mapping(m[src_key], sp, keys, required=keys)
        name = reader.string(src, "name", sp, "")
        if name and name not in RESOURCES:
            reader.error(_j(sp, "name"), f"unknown resource '{name}' (known: {', '.join(RESOURCES)})")
        if mtype == CONTAINER_RESOURCE:
            container = reader.string(src, "container", sp, "")
    else:
        keys = ("describedObject", "metric", "target") if mtype == OBJECT else ("metric", "target")
        src = reader.mapping(m[src_key], sp, keys, required=keys)
        name = ""
        if "metric" in src:
            ip = _j(sp, "metric")
            ident = reader.mapping(src["metric"], ip, ("name", "selector"), required=("name",))
            name = reader.string(ident, "name", ip, "")
        if mtype == OBJECT and "describedObject" in src:
            op = _j(sp, "describedObject")
            obj = reader.mapping(src["describedObject"], op, ("apiVersion", "kind", "name"), required=("kind", "name"))
            described = f"{reader.string(obj, 'kind', op, '')}/{reader.string(obj, 'name', op, '')}"
    if "target" not in src:
        return None
    target = _parse_target(reader, src["target"], _j(sp, "target"), TARGET_TYPES[mtype])
    if target is None:
        return None
    return MetricSpec(mtype, name, target, container, described)


def _parse_target(reader: schema.Reader, value: Any, path: str, allowed: tuple[str, ...]) -> MetricTarget | None:
    t = reader.mapping(value, path, ("type",) + tuple(TARGET_FIELDS.values()), required=("type",))
    if "type" not in t:
        return None
    ttype = reader.string(t, "type", path, "", choices=allowed)
    if ttype not in allowed:
        return None
    wanted = TARGET_FIELDS[ttype]
    for other in TARGET_FIELDS.values():
        if other != wanted and _given(t, other):
            reader.error(_j(path, other), f"not used with target type {ttype} (set '{wanted}')")
    if not _given(t, wanted):
        reader.error(path, f"missing required key '{wanted}' for target type {ttype}")
        return None
    if ttype == UTILIZATION:
        pct = reader.number(t, wanted, path, minimum=1, integer=True)
        return MetricTarget(ttype, average_utilization=pct)
    milli = milli_value(_quantity(reader, t, wanted, path, positive=True))
    if ttype == VALUE:
        return MetricTarget(ttype, value_milli=milli)
    return MetricTarget(ttype, average_value_milli=milli)


def _quantity(reader: schema.Reader, parent: dict, key: str, path: str, *, positive: bool = False) -> Fraction:
    """Read a quantity field (must be >= 0, or > 0 with ``positive``); its exact value."""
    sub, raw = _j(path, key), parent[key]
    q = parse_quantity(raw)
    if q is None:
        reader.error(sub, f"invalid quantity {raw!r} ({QUANTITY_HINT})")
        return Fraction(1)
    if positive and q <= 0:
        reader.error(sub, f"must be positive, got {raw!r}")
    elif q < 0:
        reader.error(sub, f"must be >= 0, got {raw!r}")
    elif milli_value(q) > hpa_replicas.MAX_INT64:
        reader.error(sub, f"quantity too large: {raw!r}")
    return q


def _parse_behavior(reader: schema.Reader, value: Any, path: str) -> hpa_behavior.Behavior:
    b = reader.mapping(value, path, ("scaleUp", "scaleDown"))
    up = _parse_rules(reader, b["scaleUp"], _j(path, "scaleUp")) if _given(b, "scaleUp") else None
    down = _parse_rules(reader, b["scaleDown"], _j(path, "scaleDown")) if _given(b, "scaleDown") else None
    return hpa_behavior.Behavior(up, down)


def _parse_rules(reader: schema.Reader, value: Any, path: str) -> hpa_behavior.ScalingRules:
    r = reader.mapping(value, path, ("stabilizationWindowSeconds", "selectPolicy", "policies", "tolerance"))
    window = select = policies = tolerance = None
    if _given(r, "stabilizationWindowSeconds"):
        window = reader.number(r, "stabilizationWindowSeconds", path, minimum=0,
                               maximum=MAX_STABILIZATION_WINDOW, integer=True)
    if _given(r, "selectPolicy"):
        select = reader.string(r, "selectPolicy", path, choices=hpa_behavior.SELECT_POLICIES)
    if _given(r, "policies"):
        pp = _j(path, "policies")
        items = reader.seq(r["policies"], pp, min_items=1)
        policies = tuple(_parse_policy(reader, item, _j(pp, i)) for i, item in enumerate(items))
    if _given(r, "tolerance"):
        tolerance = float(_quantity(reader, r, "tolerance", path))   # AsApproximateFloat64
    return hpa_behavior.ScalingRules(window, select, policies, tolerance)


def _parse_policy(reader: schema.Reader, value: Any, path: str) -> hpa_behavior.ScalingPolicy:
    keys = ("type", "value", "periodSeconds")
    p = reader.mapping(value, path, keys, required=keys)
    ptype = reader.string(p, "type", path, PODS, choices=hpa_behavior.POLICY_TYPES)
    amount = reader.number(p, "value", path, 1, minimum=0, exclusive_minimum=True, integer=True)
    period = reader.number(p, "periodSeconds", path, 15, minimum=1, maximum=MAX_PERIOD_SECONDS, integer=True)
    return hpa_behavior.ScalingPolicy(ptype, amount, period)


def _parse_controller(reader: schema.Reader, value: Any, path: str) -> hpa_behavior.ControllerFlags:
    c = reader.mapping(value, path, _CONTROLLER_KEYS)
    d = hpa_behavior.ControllerFlags()
    tolerance = d.tolerance
    if _given(c, "tolerance"):
        tolerance = float(_quantity(reader, c, "tolerance", path))
    return hpa_behavior.ControllerFlags(
        tolerance=tolerance,
        downscale_stabilization=schema.duration(reader, c, "downscaleStabilizationSeconds", path,
                                                d.downscale_stabilization),
        cpu_initialization_period=schema.duration(reader, c, "cpuInitializationPeriodSeconds", path,
                                                  d.cpu_initialization_period),
        initial_readiness_delay=schema.duration(reader, c, "initialReadinessDelaySeconds", path,
                                                d.initial_readiness_delay),
        scale_up_limit_factor=reader.number(c, "scaleUpLimitFactor", path, d.scale_up_limit_factor,
                                            minimum=0, exclusive_minimum=True),
        scale_up_limit_minimum=reader.number(c, "scaleUpLimitMinimum", path, d.scale_up_limit_minimum, minimum=0),
    )
