"""``TieredPolicy``: ordered rules over composite metric conditions, with tiered actions and guards.

The seed's operational policy, written in YAML::

    spec:
      replicas: {min: 2, max: 50}
      limits: {maxStepUp: 2, maxStepDown: 2, minSecondsBetweenChanges: 60,
               scaleDownStabilizationSeconds: 300, scaleDownDelayAfterScaleUpSeconds: 0}
      metrics: {custom: [queue_depth]}       # optional: names beyond cpu, memory, qps, p95_ms
      rules:                                 # first matching rule wins, in order
        - name: emergency
          when: {all: [cpu > 0.80, qps > 1000, p95_ms > 800]}
          action: {change: +2}
        - name: gentle
          when: {any: [cpu > 0.70, memory > 0.85]}
          action: {change: +1, recheckAfterSeconds: 180}
        - name: scale-down
          when: {all: [qps < 200, cpu < 0.30], forSeconds: 600}
          action: {change: -1}

Actions: ``change: +N | -N`` (relative), ``change: "+50%"`` (relative percent; up rounds up, down
rounds down, at least one replica), or ``set: N`` (absolute).

Semantics of one tick (``decide``):

* Every rule's condition is evaluated (so sustained-for timers see every tick); the first rule
  whose condition is True fires. Conditions are three-valued: a rule whose condition is unknown
  (a metric it needs is missing) does not fire.
* Re-check timer: when a rule with ``recheckAfterSeconds: R`` has changed the replica count, that
  rule and every rule after it are held until R seconds have passed (``RECHECK_PENDING``); rules
  before it (higher tiers, e.g. emergency) still act. After R seconds the rules are evaluated
  again as usual: "+1, re-check in 3 minutes".
* Fail-safe: a scale-down never happens when any metric the policy uses is missing, or when a
  higher-priority rule's condition was unknown (``METRICS_MISSING``).
* The proposal then passes the guards (``workbench.core.guards``): bounds, step limits,
  scale-down protection, stabilization, one change per interval.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

from workbench.core import guards, observations, rules, schema
from workbench.core.decisions import Decision, Reason
from workbench.core.policies import base

KIND = "TieredPolicy"


@dataclass(frozen=True)
class Action:
    change: int | None = None
    percent: float | None = None
    set: int | None = None
    recheck_after: float | None = None

    def target(self, current: int) -> int:
        if self.set is not None:
            return self.set
        if self.percent is not None:
            raw = current * (1.0 + self.percent / 100.0)
            stepped = math.ceil(raw - 1e-9) if self.percent > 0 else math.floor(raw + 1e-9)
            if stepped == current:
                stepped += 1 if self.percent > 0 else -1
            return stepped
        return current + (self.change or 0)


@dataclass(frozen=True)
class Rule:
    name: str
    when: rules.Condition
    action: Action


@dataclass(frozen=True)
class TieredSpec(base.BoundedByLimits):
    name: str
    limits: guards.Limits
    rules: tuple[Rule, ...]
    custom_metrics: tuple[str, ...] = ()
    kind: str = KIND

    def metrics_needed(self) -> frozenset[str]:
        used: set[str] = set()
        for rule in self.rules:
            used |= rules.metrics_used(rule.when)
        return frozenset(used)

    @functools.cached_property
    def compiled(self) -> "_Compiled":
        """Conditions compiled to closures, once per spec (not pickled; rebuilt on demand)."""
        return _compile(self)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("compiled", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)


# --------------------------------------------------------------------------------------- parse

_SPEC_KEYS = ("replicas", "limits", "metrics", "rules")
_LIMIT_KEYS = ("maxStepUp", "maxStepDown", "minSecondsBetweenChanges", "scaleDownStabilizationSeconds",
               "scaleDownDelayAfterScaleUpSeconds")


def parse(reader: schema.Reader, spec: dict, path: str, name: str) -> TieredSpec:
    spec = reader.mapping(spec, path, _SPEC_KEYS, required=("replicas", "rules"))
    rp = schema.join(path, "replicas")
    reps = reader.mapping(spec["replicas"], rp, ("min", "max"), required=("min", "max")) if "replicas" in spec else {}
    lo = reader.number(reps, "min", rp, 1, minimum=0, integer=True)
    hi = reader.number(reps, "max", rp, 1, minimum=1, integer=True)
    if reader.ok and lo > hi:
        reader.error(schema.join(rp, "min"), f"min ({lo}) must be <= max ({hi})")
    lp = schema.join(path, "limits")
    lim = reader.mapping(spec.get("limits", {}), lp, _LIMIT_KEYS)
    limits = guards.Limits(
        min_replicas=lo,
        max_replicas=hi,
        max_step_up=reader.number(lim, "maxStepUp", lp, None, minimum=1, integer=True),
        max_step_down=reader.number(lim, "maxStepDown", lp, None, minimum=1, integer=True),
        min_seconds_between_changes=schema.duration(reader, lim, "minSecondsBetweenChanges", lp, 0.0),
        stabilization_down=schema.duration(reader, lim, "scaleDownStabilizationSeconds", lp, 0.0),
        scale_down_delay_after_up=schema.duration(reader, lim, "scaleDownDelayAfterScaleUpSeconds", lp, 0.0),
    )
    mp = schema.join(path, "metrics")
    custom: tuple[str, ...] = ()
    if "metrics" in spec:
        met = reader.mapping(spec["metrics"], mp, ("custom",))
        names = reader.seq(met.get("custom", []), schema.join(mp, "custom"))
        for i, n in enumerate(names):
            if not isinstance(n, str) or not n.replace("_", "").replace(".", "").isalnum():
                reader.error(schema.join(schema.join(mp, "custom"), i), f"invalid metric name {n!r}")
        custom = tuple(n for n in names if isinstance(n, str))
    known = observations.STANDARD_METRICS + custom
    rp2 = schema.join(path, "rules")
    items = reader.seq(spec.get("rules", []), rp2, min_items=1) if "rules" in spec else []
    parsed = reader.each(items, rp2, lambda item, p: _parse_rule(reader, item, p, known))
    seen: set[str] = set()
    for i, rule in enumerate(parsed):
        if rule.name in seen:
            reader.error(schema.join(schema.join(rp2, i), "name"), f"duplicate rule name '{rule.name}'")
        seen.add(rule.name)
        if rule.action.set is not None and not lo <= rule.action.set <= hi:
            reader.error(schema.join(schema.join(schema.join(rp2, i), "action"), "set"),
                         f"set: {rule.action.set} is outside replicas min..max ({lo}..{hi})")
    return TieredSpec(name=name, limits=limits, rules=parsed, custom_metrics=custom)


def _parse_rule(reader: schema.Reader, item: Any, path: str, known: tuple[str, ...]) -> Rule:
    rule = reader.mapping(item, path, ("name", "when", "action"), required=("name", "when", "action"))
    name = reader.string(rule, "name", path, "?")
    when = rules.parse(reader, rule["when"], schema.join(path, "when"), known) if "when" in rule else rules.AllOf(())
    ap = schema.join(path, "action")
    act = reader.mapping(rule.get("action", {}), ap, ("change", "set", "recheckAfterSeconds"))
    forms = [k for k in ("change", "set") if k in act]
    if "action" in rule and len(forms) != 1:
        reader.error(ap, "an action needs exactly one of change, set")
    change = percent = setv = None
    if "change" in act:
        change, percent = _parse_change(reader, act["change"], schema.join(ap, "change"))
    if "set" in act:
        setv = reader.number(act, "set", ap, None, minimum=0, integer=True)
    recheck = schema.duration(reader, act, "recheckAfterSeconds", ap, None, positive=True)
    return Rule(name, when, Action(change=change, percent=percent, set=setv, recheck_after=recheck))


def _parse_change(reader: schema.Reader, value: Any, path: str) -> tuple[int | None, float | None]:
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            pct = float(value.strip()[:-1])
        except ValueError:
            pct = None
        if pct is None or pct == 0 or not math.isfinite(pct) or pct <= -100:
            reader.error(path, f"expected a percent change like '+50%' or '-25%', got {value!r}")
            return None, None
        return None, pct
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            reader.error(path, f"expected a replica change like +2 or -1 or '+50%', got {value!r}")
            return None, None
    if isinstance(value, bool) or not isinstance(value, int) or value == 0:
        reader.error(path, f"expected a non-zero whole replica change like +2 or -1, got {value!r}")
        return None, None
    return value, None


# ------------------------------------------------------------------------------------- decide


class TieredState(NamedTuple):
    guard: guards.GuardState
    timers: tuple  # sustained-condition start times, one slot per sustained node
    recheck: tuple[int, float] | None  # (index of the rule that set it, until)


class _Compiled(NamedTuple):
    evaluators: tuple       # three-valued closures, one per rule (used when a metric is missing)
    first_match: Any        # generated two-valued fast path: first True rule index, or None
    n_timers: int
    needed: tuple[str, ...]


def _compile(spec: TieredSpec) -> _Compiled:
    evaluators, slot = [], 0
    for rule in spec.rules:
        f, slot = rules.compile_condition(rule.when, slot)
        evaluators.append(f)
    fast = rules.compile_first_match(tuple(r.when for r in spec.rules))
    return _Compiled(tuple(evaluators), fast, slot, tuple(sorted(spec.metrics_needed())))


def initial_state(spec: TieredSpec, replicas: int, now: float) -> TieredState:
    comp = spec.compiled
    gs = guards.GuardState()
    if spec.limits.stabilization_down > 0:
        gs = gs._replace(recs=((replicas, None),))
    return TieredState(gs, (None,) * comp.n_timers, None)


_HOLD = Reason.NO_RULE_MATCHED


def decide(obs: observations.Observation, state: TieredState, spec: TieredSpec, now: float) -> tuple[Decision, TieredState]:
    comp = spec.compiled
    m = obs.metrics
    current = obs.replicas

    uncertain = False
    fast = comp.first_match(m, state.timers, now)
    if fast is not None:
        fired, timers = fast
    else:  # some metric missing: three-valued evaluation of every rule (timers see every tick)
        fired = -1
        scratch = list(state.timers)
        for i, f in enumerate(comp.evaluators):
            r = f(m, scratch, now)
            if fired < 0:
                if r is True:
                    fired = i
                elif r is None:
                    uncertain = True
        timers = tuple(scratch)

    recheck = state.recheck
    if recheck is not None and now >= recheck[1]:
        recheck = None
    lim = spec.limits
    gs = state.guard
    if fired < 0 and lim.min_replicas <= current <= lim.max_replicas:
        # quiet tick: nothing to do but remember the recommendation (= current)
        if lim.stabilization_down > 0 and (not gs.recs or gs.recs[-1][0] != current):
            gs = guards.record(lim, gs, current, now)
        if gs is state.guard and recheck is state.recheck and timers == state.timers:
            return Decision(current, 0, _HOLD, "", m), state
        return Decision(current, 0, _HOLD, "", m), TieredState(gs, timers, recheck)

    rule_name = ""
    reason = Reason.NO_RULE_MATCHED
    if fired < 0:
        target = current
    elif recheck is not None and fired >= recheck[0]:
        target, reason, rule_name = current, Reason.RECHECK_PENDING, spec.rules[recheck[0]].name
    else:
        rule = spec.rules[fired]
        rule_name = rule.name
        target = rule.action.target(current)
        reason = Reason.RULE_FIRED
        if target < current and (uncertain or _any_missing(m, comp.needed)):
            target, reason = current, Reason.METRICS_MISSING

    gs = guards.record(lim, gs, guards.clamp(lim, target)[0], now)
    allowed, why, gs = guards.apply(lim, gs, current, target, now)
    if why is not None:
        reason = why
        if not lim.min_replicas <= current <= lim.max_replicas:
            rule_name = ""  # brought back into bounds, whatever the rules said
    if allowed != current and fired >= 0 and reason is not Reason.RECHECK_PENDING:
        after = spec.rules[fired].action.recheck_after
        if after is not None:
            recheck = (fired, now + after)

    if gs is state.guard and recheck == state.recheck and timers == state.timers:
        new_state = state
    else:
        new_state = TieredState(gs, timers, recheck)
    return Decision(allowed, allowed - current, reason, rule_name, m), new_state


def _any_missing(m: Any, names: tuple[str, ...]) -> bool:
    for n in names:
        v = m.get(n)
        if v is None or v != v:
            return True
    return False


def quiet_mask(spec: TieredSpec, current: int, seen: Any) -> Any:
    """Ticks where no rule can fire and no sustained timer can start (see ``base``): every used
    metric finite, every rule's condition False with timers idle, every sustained child False."""
    import numpy as np

    needed = spec.compiled.needed
    n = len(next(iter(seen.values())))
    lim = spec.limits
    if not lim.min_replicas <= current <= lim.max_replicas or any(name not in seen for name in needed):
        return np.zeros(n, dtype=bool)
    quiet = np.ones(n, dtype=bool)
    with np.errstate(invalid="ignore"):
        for name in needed:
            quiet &= np.isfinite(seen[name])
        for rule in spec.rules:
            quiet &= ~rules.vector_holds(rule.when, seen, n)
            for child in rules.sustained_children(rule.when):
                quiet &= ~rules.vector_holds(child, seen, n)
    return quiet


def settled(spec: TieredSpec, state: TieredState, current: int) -> bool:
    """A quiet tick leaves this state untouched: no timer running, no re-check pending, and the
    stabilization window's newest recommendation is already the current count."""
    if state.recheck is not None or any(t is not None for t in state.timers):
        return False
    if spec.limits.stabilization_down > 0:
        return bool(state.guard.recs) and state.guard.recs[-1][0] == current
    return True


FAMILY = base.Family(kind=KIND, parse=parse, initial_state=initial_state, decide=decide,
                     summary="ordered rules over composite metric conditions with tiered actions and guards",
                     quiet_mask=quiet_mask, settled=settled)
