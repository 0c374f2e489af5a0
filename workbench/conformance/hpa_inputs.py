"""Translate the HPA vector format (``replica.json``/``behavior.json``) into the core's own values.

Only translation lives here (no HPA logic): pods become ``observations.PodSample`` values, rules
become ``hpa_behavior.ScalingRules``, metric inputs become single-metric ``hpa_spec.MetricSpec``
values plus an ``Observation``. The runner (``conformance.hpa``) then calls the very functions the
policy's ``decide`` uses.

Conventions of the format (see the files' ``about``): times are seconds relative to ``now = 0``;
quantities are milli-units. Replica-format pods carry booleans (``ready``, ``deleted``,
``hot_cpu``) instead of timestamps; ``replica_pod`` realizes them with timestamps that give the
same grouping under the case's CPU initialization period and readiness delay (defaults: the
upstream unit tests' 120 s and 10 s):

* not hot: started long ago (past the initialization period), Ready condition changed at start,
  fresh sample: Ready=True -> ready; Ready=False -> never became ready -> unready (CPU only);
* hot: started half an initialization period ago and its sample window began before the last
  readiness change -> unready for CPU whatever Ready says.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from workbench.core import errors, observations
from workbench.core.policies import hpa, hpa_behavior, hpa_replicas, hpa_spec

NOW = 0.0
TEST_CPU_INITIALIZATION_PERIOD = 120.0   # defaultTestingCPUInitializationPeriod in the upstream tests
TEST_READINESS_DELAY = 10.0              # defaultTestingDelayOfInitialReadinessStatus


class CaseFileError(errors.UserError):
    """A case file cannot be read or a case does not have the documented shape (exit 2)."""


class Skip(Exception):
    """A case is skipped for a named, documented reason (see ``conformance.hpa``)."""

    def __init__(self, name: str, why: str):
        super().__init__(f"{name}: {why}")
        self.name = name


def get(d: Any, key: str, kind: type | tuple[type, ...] | None = None, default: Any = ...) -> Any:
    """``d[key]`` checked against ``kind``; a missing or ill-typed value is a ``CaseFileError``."""
    if not isinstance(d, dict):
        raise CaseFileError(f"expected an object holding '{key}', got {type(d).__name__}")
    if key not in d:
        if default is ...:
            raise CaseFileError(f"missing field '{key}'")
        return default
    value = d[key]
    if kind is not None and value is not None and not _is(value, kind):
        raise CaseFileError(f"field '{key}' has the wrong type ({type(value).__name__})")
    return value


def _is(value: Any, kind: type | tuple[type, ...]) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        return False
    if float in kinds and isinstance(value, int):
        return True
    return isinstance(value, kinds)


def num(d: Any, key: str, default: Any = ...) -> Any:
    return get(d, key, (int, float), default)


# --------------------------------------------------------------------------- parameters


def tolerances(inp: dict) -> hpa_replicas.Tolerances:
    tol = get(inp, "tolerance", dict, None)
    if tol is None:
        return hpa_replicas.Tolerances()
    return hpa_replicas.Tolerances(float(num(tol, "scale_down", 0.1)), float(num(tol, "scale_up", 0.1)))


def grouping_params(*scopes: dict) -> tuple[float, float]:
    """The CPU initialization period and readiness delay stated by the innermost scope, else the
    upstream test constants."""
    init, delay = TEST_CPU_INITIALIZATION_PERIOD, TEST_READINESS_DELAY
    for scope in scopes:
        init = float(num(scope, "cpu_initialization_period_s", init))
        delay = float(num(scope, "delay_of_initial_readiness_status_s", delay))
    return init, delay


def rules(d: Any) -> hpa_behavior.ScalingRules | None:
    """``{stabilization_window_s, select_policy, policies: [{type, value, period_s}], tolerance}``."""
    if d is None:
        return None
    if not isinstance(d, dict):
        raise CaseFileError("rules must be an object or null")
    policies = get(d, "policies", list, None)
    if policies is not None:
        policies = tuple(hpa_behavior.ScalingPolicy(get(p, "type", str), int(num(p, "value")), int(num(p, "period_s")))
                         for p in policies)
    window = num(d, "stabilization_window_s", None)
    tol = num(d, "tolerance", None)
    return hpa_behavior.ScalingRules(window, get(d, "select_policy", str, None), policies,
                                     None if tol is None else float(tol))


def events(items: Any) -> tuple[hpa_behavior.ScaleEvent, ...]:
    return tuple(hpa_behavior.ScaleEvent(int(num(e, "change")), float(num(e, "t")), bool(get(e, "outdated", bool, False)))
                 for e in (items or ()))


def recommendations(items: Any) -> tuple[hpa_behavior.Recommendation, ...]:
    return tuple(hpa_behavior.Recommendation(int(num(r, "replicas")), float(num(r, "t"))) for r in (items or ()))


def exact(milli: int) -> Fraction:
    """A milli value as an exact plain-unit number for ``Observation.metrics`` (no float rounding)."""
    return Fraction(milli, 1000)


# --------------------------------------------------------------------------------- pods


def replica_pod(p: dict, metrics: dict[str, Any], request_milli: int | None, init: float,
                delay: float) -> observations.PodSample:
    """A replica-format pod as a ``PodSample`` (see the module docstring for the timestamps)."""
    name = get(p, "name", str)
    if get(p, "hot_cpu", bool, False):
        start = NOW - init / 2.0
        window = (NOW - start) + 30.0
    else:
        start = NOW - (init + delay + 600.0)
        window = 30.0
    return observations.PodSample(
        name=name, phase=get(p, "phase", str, "Running"), ready=bool(get(p, "ready", bool, True)),
        start_time=start, ready_transition_time=start, deleted=bool(get(p, "deleted", bool, False)),
        request_milli=request_milli, metrics=metrics, metric_time=NOW, metric_window=window)


def group_pod(p: dict) -> observations.PodSample:
    """A ``group_pods``-format pod (full timestamps) as a ``PodSample`` sampling ``cpu``/``memory``."""
    start = get(p, "start_time_s", (int, float, str), None)
    start_time = None if start in (None, "unset") else float(start)
    if isinstance(start, str) and start != "unset":
        raise CaseFileError(f"start_time_s must be a number or 'unset', got {start!r}")
    cond = get(p, "ready_condition", dict, None)
    ready: bool | None = False
    transition = None
    if cond is not None:
        status = get(cond, "status", str)
        ready = True if status == "True" else False if status == "False" else None   # None = Unknown
        transition = float(num(cond, "last_transition_s"))
    metric = get(p, "metric", dict, None)
    values, ts, window = {}, NOW, 30.0
    if metric is not None:
        values = {"sample": 1}
        t = num(metric, "timestamp_s", None)
        ts = -math.inf if t is None else float(t)
        window = float(num(metric, "window_s", 30.0))
    return observations.PodSample(name=get(p, "name", str), phase=get(p, "phase", str, "Running"), ready=ready,  # type: ignore[arg-type]
                                  start_time=start_time, ready_transition_time=transition,
                                  deleted=bool(get(p, "deleted", bool, False)), metrics=values,
                                  metric_time=ts, metric_window=window)


# ------------------------------------------------------------------------ metric inputs

VALUE_KINDS = ("object_value", "object_average_value", "external_value", "external_average_value")
POD_KINDS = ("resource_utilization", "resource_average_value", "pods_average_value")


def metric_spec(kind: str, inp: dict, name: str) -> hpa_spec.MetricSpec:
    """The single ``MetricSpec`` a replica-format metric input describes."""
    T = hpa_spec.MetricTarget
    if kind in ("resource_utilization", "resource_average_value"):
        resource = get(inp, "resource", str, "cpu") or "cpu"
        container = get(inp, "container", str, None)
        mtype = hpa_spec.CONTAINER_RESOURCE if container else hpa_spec.RESOURCE
        if kind == "resource_utilization":
            target = T(hpa_spec.UTILIZATION, average_utilization=int(num(inp, "target_utilization_percent")))
        else:
            target = T(hpa_spec.AVERAGE_VALUE, average_value_milli=int(num(inp, "target_average_milli")))
        return hpa_spec.MetricSpec(mtype, resource, target, container)
    if kind == "pods_average_value":
        return hpa_spec.MetricSpec(hpa_spec.PODS, name, T(hpa_spec.AVERAGE_VALUE,
                                                          average_value_milli=int(num(inp, "target_average_milli"))))
    mtype = hpa_spec.OBJECT if kind.startswith("object") else hpa_spec.EXTERNAL
    if kind.endswith("average_value"):
        target = T(hpa_spec.AVERAGE_VALUE, average_value_milli=int(num(inp, "target_average_milli")))
    else:
        target = T(hpa_spec.VALUE, value_milli=int(num(inp, "target_value_milli")))
    return hpa_spec.MetricSpec(mtype, name, target, described_object="Case/object" if mtype == hpa_spec.OBJECT else None)


POD_FIELDS = ("phase", "ready", "deleted", "hot_cpu")


def metric_pods(kind: str, inp: dict, spec: hpa_spec.MetricSpec) -> list[tuple[dict, dict[str, Any], int | None]]:
    """The pods of one metric input as ``(stated pod fields, PodSample.metrics, request_milli)``,
    keyed as ``hpa.evaluate_metric`` reads them; unmatched samples come with ``phase: Unlisted``."""
    key = hpa.pod_metric_key(spec)
    out: list[tuple[dict, dict[str, Any], int | None]] = []
    if kind not in POD_KINDS:
        for p in get(inp, "pods", list, []) or []:
            out.append((_fields(p), {}, None))
        return out
    value_field = "value_milli" if kind == "pods_average_value" else "usage_milli"
    cpu_pod_request = spec.type == hpa_spec.RESOURCE and spec.name == "cpu"
    for p in get(inp, "pods", list, []) or []:
        values: dict[str, Any] = {}
        v = num(p, value_field, None)
        if v is not None:
            values[key] = v
        request = num(p, "request_milli", None) if kind != "pods_average_value" else None
        if request is not None and not cpu_pod_request:
            values[key + "_request"] = request
            request = None
        out.append((_fields(p), values, request))
    for u in get(inp, "unmatched_metrics", list, []) or []:
        out.append(({"name": get(u, "name", str), "phase": hpa.UNLISTED}, {key: num(u, value_field)}, None))
    return out


def _fields(p: dict) -> dict:
    fields = {"name": get(p, "name", str)}
    for k in POD_FIELDS:
        if k in p:
            fields[k] = p[k]
    return fields


def build_pod(fields: dict, metrics: dict[str, Any], request: int | None, init: float,
              delay: float) -> observations.PodSample:
    if fields.get("phase") == hpa.UNLISTED:
        return observations.PodSample(name=fields["name"], phase=hpa.UNLISTED, ready=False, start_time=None,
                                      ready_transition_time=None, metrics=metrics, metric_time=NOW)
    return replica_pod(fields, metrics, request, init, delay)


def metric_value(kind: str, inp: dict) -> Fraction | None:
    """The object value, or the external series summed with the core's saturating sum, as plain units."""
    if kind.startswith("object"):
        v = num(inp, "value_milli", None)
        return None if v is None else exact(int(v))
    values = get(inp, "values_milli", list, None)
    if values is None:
        return None
    return exact(hpa_replicas.saturating_sum(int(v) for v in values))
