"""Conformance runner for the HPA family: runs ``replica.json``/``behavior.json``-format vectors.

``run_files(paths) -> Report``, ``render(report) -> str``, ``main(paths) -> exit code``.

Every case is run through the functions the policy's ``decide`` itself uses, never a second
implementation: per-metric kinds through ``hpa.evaluate_metric`` (the observation adapter plus
``hpa_replicas``), ``group_pods`` through ``hpa.pods_view`` + ``hpa_replicas.group_pods``, the
behavior kinds through ``hpa_behavior``, and ``reconcile`` through ``hpa.decide`` itself with a
spec, a state and an ``Observation`` built from the case. Each case's stated parameters
(tolerance, CPU initialization period, readiness delay, scale-up limit factor/minimum,
stabilization window, ...) are honoured; defaults are the upstream tests' where a case is silent.

Every field of ``expected`` is compared (``error_contains`` as a substring of the error); a field
the runner cannot produce is a failure, not a pass. Replica-format pods also carry a derived
``state``; the grouping of the synthesized pods must reproduce it.

Skips (each named in the report; none occur on the shared vectors):

* ``unsupported-kind``: a ``kind`` this runner does not know;
* ``legacy-asymmetric-tolerance``: a ``reconcile`` case without ``behavior`` whose metrics state
  different up/down tolerances (upstream can only set per-direction tolerances via behavior);
* ``inconsistent-pods``: a ``reconcile`` case whose metrics list the same pod differently (one
  sync has one pod list).

Exit codes of ``main``: 0 all passed, 1 some case failed, 2 unreadable/malformed case file.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections import Counter
from typing import Any, Callable, NamedTuple

from workbench.conformance import hpa_inputs as ci
from workbench.conformance import hpa_reconcile
from workbench.conformance.hpa_inputs import CaseFileError, Skip, get, num
from workbench.core import observations
from workbench.core.policies import hpa, hpa_behavior, hpa_replicas

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


class Mismatch(NamedTuple):
    field: str
    expected: Any
    got: Any


class CaseResult(NamedTuple):
    file: str
    id: str
    kind: str
    name: str
    status: str
    mismatches: tuple[Mismatch, ...] = ()
    note: str = ""


class Report(NamedTuple):
    results: tuple[CaseResult, ...]

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def failed(self) -> int:
        return self.count(FAILED)


View = tuple[str, dict]   # (label, produced fields); most kinds produce one unlabelled view


# --------------------------------------------------------------------- per-metric kinds (2)


def _metric_case(kind: str, inp: dict) -> list[View]:
    init, delay = ci.grouping_params(inp)
    spec = ci.metric_spec(kind, inp, "m")
    pods = [ci.build_pod(f, m, r, init, delay) for f, m, r in ci.metric_pods(kind, inp, spec)]
    stated_current = num(inp, "current_replicas", None)
    current = int(stated_current if stated_current is not None else num(inp, "status_replicas"))
    status = int(num(inp, "status_replicas", current))
    metrics = {}
    if kind in ci.VALUE_KINDS:
        metrics["m"] = ci.metric_value(kind, inp)
    obs = observations.Observation(metrics=metrics, replicas=current, ready_replicas=0, pods=tuple(pods),
                                   status_replicas=status)
    ctx = hpa.MetricContext(current, status, ci.tolerances(inp), init, delay, ci.NOW)
    r = hpa.evaluate_metric(spec, obs, ctx)
    got: dict[str, Any]
    if r.replicas is None:
        got = {"error": True, "error_message": r.error}
    elif kind == "resource_utilization":
        got = {"error": False, "replicas": r.replicas, "utilization_percent": r.utilization,
               "raw_average_milli": r.usage}
    else:
        got = {"error": False, "replicas": r.replicas, "usage_milli": r.usage}
    states = _derived_states(kind, pods, spec, init, delay)
    if states is not None:
        got["pod_states"] = states
    return [("", got)]


def _derived_states(kind: str, pods: list, spec, init: float, delay: float) -> dict | None:
    """Group the synthesized pods with the core's ``group_pods``: (stated, derived) per pod."""
    if kind not in ci.POD_KINDS:
        return None
    listed, samples, _ = hpa.pods_view(tuple(pods), hpa.pod_metric_key(spec), False, ci.NOW)
    g = hpa_replicas.Grouping(spec.name == "cpu" and kind != "pods_average_value", init, delay, ci.NOW)
    groups = hpa_replicas.group_pods(listed, samples, g)
    derived = {}
    for p in listed:
        derived[p.name] = ("unready" if p.name in groups.unready else "missing" if p.name in groups.missing
                           else "ignored" if p.name in groups.ignored else "ready")
    return derived


def _group_pods(inp: dict) -> list[View]:
    init, delay = ci.grouping_params(inp)
    resource = get(inp, "resource", str, "cpu") or "cpu"
    pods = tuple(ci.group_pod(p) for p in get(inp, "pods", list))
    listed, samples, _ = hpa.pods_view(pods, "sample", False, ci.NOW)
    groups = hpa_replicas.group_pods(listed, samples, hpa_replicas.Grouping(resource == "cpu", init, delay, ci.NOW))
    return [("", {"ready_count": groups.ready_count, "unready": sorted(groups.unready),
                  "missing": sorted(groups.missing), "ignored": sorted(groups.ignored)})]


# ---------------------------------------------------------------------- behavior kinds (4-6)


def _rate_limit(inp: dict) -> list[View]:
    replicas, reason = hpa_behavior.convert_with_behavior_rate(
        int(num(inp, "current_replicas")), int(num(inp, "desired_replicas")), int(num(inp, "min_replicas")),
        int(num(inp, "max_replicas")), hpa_behavior.scale_up_rules(ci.rules(get(inp, "scale_up_rules", dict, None))),
        hpa_behavior.scale_down_rules(ci.rules(get(inp, "scale_down_rules", dict, None))),
        ci.events(get(inp, "scale_up_events", list, [])), ci.events(get(inp, "scale_down_events", list, [])), ci.NOW)
    return [("", {"replicas": replicas, "reason": reason})]


def _limit(direction: str) -> Callable[[dict], list[View]]:
    def run(inp: dict) -> list[View]:
        up_ev = ci.events(get(inp, "scale_up_events", list, []))
        down_ev = ci.events(get(inp, "scale_down_events", list, []))
        r = ci.rules(get(inp, "rules", dict, None))
        current = int(num(inp, "current_replicas"))
        if direction == "up":
            limit = hpa_behavior.scale_up_limit(current, up_ev, down_ev, hpa_behavior.scale_up_rules(r), ci.NOW)
        else:
            limit = hpa_behavior.scale_down_limit(current, up_ev, down_ev, hpa_behavior.scale_down_rules(r), ci.NOW)
        return [("", {"limit": limit})]
    return run


def _stabilize_behavior(inp: dict) -> list[View]:
    stab, recs = hpa_behavior.stabilize_with_behaviors(
        ci.recommendations(get(inp, "recommendations", list, [])), int(num(inp, "current_replicas")),
        int(num(inp, "desired_replicas")), float(num(inp, "scale_up_stabilization_window_s")),
        float(num(inp, "scale_down_stabilization_window_s")), ci.NOW)
    return [("", {"replicas": stab, "stored_recommendations": [r.replicas for r in recs],
                  "stored_recommendation_count": len(recs)})]


def _stabilize_legacy(inp: dict) -> list[View]:
    stab, recs = hpa_behavior.stabilize_legacy(
        ci.recommendations(get(inp, "recommendations", list, [])), int(num(inp, "desired_replicas")),
        float(num(inp, "downscale_stabilization_window_s", 300)), ci.NOW)
    return [("", {"replicas": stab, "stored_recommendations": [r.replicas for r in recs],
                  "stored_recommendation_count": len(recs)})]


_CHECK = re.compile(r"(scale_up|scale_down)\s*\((\d+)\s*->\s*(\d+)\)")
_CHANGE_KEY = re.compile(r"^replicas_change_last_(\d+(?:\.\d+)?)s_before_store$")


def _store_scale_events(inp: dict, expected: dict) -> list[View]:
    previous = ci.events(get(inp, "previous_events", list, []))
    r = ci.rules(get(inp, "rules", dict, None))
    change = int(num(inp, "replica_change"))
    checks = [_CHECK.search(c) for c in get(inp, "check_for", list, []) or []]
    todo = [(m.group(1), int(m.group(2)), int(m.group(3))) for m in checks if m] or \
           [("scale_up", 10, 10 + change), ("scale_down", 10, 10 - change)]
    views = []
    for direction, old, new in todo:
        got: dict[str, Any] = {}
        for key in expected:
            m = _CHANGE_KEY.match(key)
            if m:
                got[key] = hpa_behavior.replicas_change_per_period(float(m.group(1)), previous, ci.NOW)
        up = direction == "scale_up"
        behavior = None
        if r is not None:
            rules = hpa_behavior.scale_up_rules(r) if up else hpa_behavior.scale_down_rules(r)
            behavior = hpa_behavior.Behavior(scale_up=rules if up else None, scale_down=None if up else rules)
        up_ev, down_ev = hpa_behavior.store_scale_event(behavior, previous if up else (), () if up else previous,
                                                        old, new, ci.NOW)
        stored = up_ev if up else down_ev
        got["events_after_store"] = [{"change": e.change, "t": e.time, "outdated": e.outdated} for e in stored]
        views.append((direction, got))
    return views


def _legacy_rules(inp: dict) -> list[View]:
    flags = hpa_behavior.ControllerFlags(scale_up_limit_factor=float(num(inp, "scale_up_limit_factor", 2.0)),
                                         scale_up_limit_minimum=float(num(inp, "scale_up_limit_minimum", 4.0)))
    replicas, reason = hpa_behavior.convert_with_rules(int(num(inp, "current_replicas")), int(num(inp, "desired_replicas")),
                                                       int(num(inp, "min_replicas")), int(num(inp, "max_replicas")), flags)
    return [("", {"replicas": replicas, "reason": reason})]


def _defaults(inp: dict) -> list[View]:
    direction = get(inp, "direction", str)
    if direction not in ("scale_up", "scale_down"):
        raise CaseFileError(f"direction must be scale_up or scale_down, got {direction!r}")
    gen = hpa_behavior.scale_up_rules if direction == "scale_up" else hpa_behavior.scale_down_rules
    r = gen(ci.rules(get(inp, "rules", dict, None)))
    return [("", {"policies": [{"type": p.type, "value": p.value, "period_s": p.period_seconds} for p in r.policies or ()],
                  "stabilization_window_s": r.stabilization_window_seconds, "select_policy": r.select_policy,
                  "tolerance": r.tolerance})]


HANDLERS: dict[str, Callable[..., list[View]]] = {
    **{k: (lambda inp, _k=k: _metric_case(_k, inp)) for k in ci.POD_KINDS + ci.VALUE_KINDS},
    "group_pods": _group_pods,
    "rate_limit": _rate_limit,
    "scale_up_limit": _limit("up"),
    "scale_down_limit": _limit("down"),
    "stabilize_behavior": _stabilize_behavior,
    "stabilize_legacy": _stabilize_legacy,
    "legacy_rules": _legacy_rules,
    "defaults": _defaults,
    "reconcile": hpa_reconcile.run,
}
NEEDS_EXPECTED = {"store_scale_events": _store_scale_events}


# ------------------------------------------------------------------------------- comparing


def _same(expected: Any, got: Any) -> bool:
    if isinstance(expected, dict) and isinstance(got, dict):
        return all(k in got and _same(v, got[k]) for k, v in expected.items())
    if isinstance(expected, list) and isinstance(got, (list, tuple)):
        return len(expected) == len(got) and all(_same(e, g) for e, g in zip(expected, got))
    if isinstance(expected, bool) or isinstance(got, bool):
        return expected is got
    if isinstance(expected, (int, float)) and isinstance(got, (int, float)):
        if isinstance(expected, int) and isinstance(got, int):
            return expected == got
        return math.isclose(expected, got, rel_tol=1e-9, abs_tol=1e-12)
    return expected == got


def _project(expected: Any, got: Any) -> Any:
    """Show only the parts of ``got`` that ``expected`` talks about (for readable mismatches)."""
    if isinstance(expected, dict) and isinstance(got, dict):
        return {k: _project(expected[k], got[k]) if k in expected else got[k] for k in got if k in expected}
    if isinstance(expected, list) and isinstance(got, (list, tuple)) and expected and len(expected) == len(got):
        return [_project(e, g) for e, g in zip(expected, got)]
    if isinstance(expected, list) and isinstance(got, (list, tuple)) and expected and isinstance(expected[0], dict):
        return [_project(expected[0], g) for g in got]
    return got


_MISSING = "<not produced>"
NOT_ASSERTED_WHEN_NULL = frozenset({"stored_recommendations", "stored_recommendation_count", "events_after_store",
                                    "scale_up_events", "scale_down_events"})
"""Output lists the upstream tests only check when given: ``null`` there means "not asserted"
(e.g. ``expectedRecommendations == nil`` in TestNormalizeDesiredReplicasWithBehavior). Elsewhere
``null`` is a value to match (e.g. a defaulted ``stabilization_window_s`` that stays nil)."""


def compare(expected: dict, views: list[View], case: dict) -> list[Mismatch]:
    out = []
    for label, got in views:
        tag = f" ({label})" if label else ""
        if got.get("error") and "error" not in expected:
            out.append(Mismatch("error" + tag, "no error", got.get("error_message")))
            continue
        for key, want in expected.items():
            if key == "error_contains":
                msg = got.get("error_message")
                if not (isinstance(msg, str) and isinstance(want, str) and want in msg):
                    out.append(Mismatch(key + tag, want, msg if msg is not None else "no error"))
                continue
            if key == "error" and not want and "error" not in got:
                continue
            if want is None and key in NOT_ASSERTED_WHEN_NULL:
                continue
            have = got.get(key, _MISSING)
            if have is _MISSING or not _same(want, have):
                out.append(Mismatch(key + tag, want, _project(want, have)))
        states = got.get("pod_states")
        if states:
            stated = {p.get("name"): p.get("state") for p in (case.get("input", {}).get("pods") or [])
                      if isinstance(p, dict) and "state" in p}
            for name, want_state in stated.items():
                if states.get(name) != want_state:
                    out.append(Mismatch(f"input.pods[{name}].state{tag}", want_state, states.get(name)))
    return out


# ------------------------------------------------------------------------------- running


def load_cases(path: str) -> list[dict]:
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except OSError as exc:
        raise CaseFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CaseFileError(f"{path}: not valid JSON: {exc}") from None
    cases = doc.get("cases") if isinstance(doc, dict) else doc
    if not isinstance(cases, list):
        raise CaseFileError(f"{path}: expected an object with a 'cases' list (or a list of cases)")
    for i, case in enumerate(cases):
        if not isinstance(case, dict):
            raise CaseFileError(f"{path}: cases[{i}] is not an object")
        for key, kind in (("id", str), ("kind", str), ("input", dict), ("expected", dict)):
            if not isinstance(case.get(key), kind):
                raise CaseFileError(f"{path}: cases[{i}] ({case.get('id', '?')}): missing or invalid '{key}'")
    return cases


def run_case(path: str, case: dict) -> CaseResult:
    cid, kind, name = case["id"], case["kind"], str(case.get("name", ""))
    expected = case["expected"]
    if kind not in HANDLERS and kind not in NEEDS_EXPECTED:
        return CaseResult(path, cid, kind, name, SKIPPED, note=f"unsupported-kind: no handler for kind {kind!r}")
    try:
        if kind in NEEDS_EXPECTED:
            views = NEEDS_EXPECTED[kind](case["input"], expected)
        else:
            views = HANDLERS[kind](case["input"])
    except Skip as exc:
        return CaseResult(path, cid, kind, name, SKIPPED, note=str(exc))
    except CaseFileError as exc:
        raise CaseFileError(f"{path}: case {cid}: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        return CaseResult(path, cid, kind, name, FAILED, (Mismatch("exception", "no exception", f"{type(exc).__name__}: {exc}"),))
    mismatches = tuple(compare(expected, views, case))
    return CaseResult(path, cid, kind, name, FAILED if mismatches else PASSED, mismatches)


def run_files(paths: list[str]) -> Report:
    """Run every case of every file. Raises ``CaseFileError`` for an unreadable or malformed file."""
    results = []
    for path in paths:
        for case in load_cases(path):
            results.append(run_case(path, case))
    return Report(tuple(results))


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 300 else text[:297] + "..."


def render(report: Report) -> str:
    kinds: dict[str, Counter] = {}
    for r in report.results:
        kinds.setdefault(r.kind, Counter())[r.status] += 1
    width = max([len("kind"), len("total")] + [len(k) for k in kinds])
    lines = [f"{'kind':<{width}}  {'passed':>6}  {'failed':>6}  {'skipped':>7}"]
    for kind, c in kinds.items():
        lines.append(f"{kind:<{width}}  {c[PASSED]:>6}  {c[FAILED]:>6}  {c[SKIPPED]:>7}")
    lines.append(f"{'total':<{width}}  {report.count(PASSED):>6}  {report.count(FAILED):>6}  {report.count(SKIPPED):>7}")
    failed = [r for r in report.results if r.status == FAILED]
    if failed:
        lines.append("")
        lines.append("failed cases:")
        for r in failed:
            lines.append(f"  {r.id} [{r.kind}] {r.name} ({r.file})")
            for m in r.mismatches:
                lines.append(f"    {m.field}: expected {_short(m.expected)}, got {_short(m.got)}")
    skipped = [r for r in report.results if r.status == SKIPPED]
    if skipped:
        lines.append("")
        lines.append("skipped cases:")
        for r in skipped:
            lines.append(f"  {r.id} [{r.kind}] {r.note}")
    lines.append("")
    lines.append(f"{report.count(PASSED)} passed, {report.count(FAILED)} failed, {report.count(SKIPPED)} skipped")
    return "\n".join(lines)


def main(paths: list[str]) -> int:
    """CLI entry: print the report; 0 all passed, 1 a case failed, 2 a case file is unusable."""
    if not paths:
        print("scalelab conformance hpa: no case files given", file=sys.stderr)
        return 2
    try:
        report = run_files(list(paths))
    except CaseFileError as exc:
        print(f"scalelab conformance hpa: {exc}", file=sys.stderr)
        return 2
    print(render(report))
    return 1 if report.failed else 0
