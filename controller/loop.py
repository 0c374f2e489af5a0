"""One reconcile per target and tick: observe -> decide -> guards -> act, and its log lines.

``reconcile(target, now, ctx)`` is the whole per-target logic. It reads no clock (``now`` is given)
and reaches the world only through ``target.observer`` (``observe(now) -> Snapshot``),
``ctx.actor`` (``read``/``write``/``event``, see ``act.ScaleExecutor``) and ``target.lock``, so
tests and the bench run it without a network (``act.MemoryScale``, ``observe.StaticObserver``).

Order of one tick:

1. circuit breaker open -> skip (no API call); cool-off over -> half-open probe;
2. lock (live mode only; ``--dry-run`` never takes it): not held -> skip; newly acquired -> the
   policy state is reset (another replica may have acted);
3. read the scale (spec.replicas, status.replicas, resourceVersion); failure -> breaker;
4. observe the metrics (missing/NaN/stale -> ``None``); ``ready_replicas`` = the ``replicas``
   binding when bound and present, else ``status.replicas``;
5. shadow policies decide on the same observation with their own state, logged, never act;
6. the policy decides (``workbench.core``; nothing re-implemented here);
7. shell guards: fallback (KEDA-style, never down); fail-safe (no scale-down while a metric the
   policy needs is missing or stale); bounds and step limits re-checked; at most one change per
   ``min_interval`` seconds;
8. act: nothing to do when the desired count is already there; ``--dry-run`` stops here; the lock
   is re-confirmed with its backend; the scale is patched with the read resourceVersion. A 409
   re-reads: same replicas -> re-apply with the fresh version; already at the desired count ->
   done; changed by another writer -> re-decide from the *previous* policy state with the fresh
   count (the other writer's update is never overwritten blindly).

Policy state is committed only when the decision took effect (success, or dry run); a decision
that was skipped or failed leaves the previous state in place, so e.g. a failed scale-up does not
start the policy's cooldown. Each log line says which (``state``), so ``parity.replay`` can
reproduce every decision from the log alone.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from controller import act, breaker as _breaker, decision_log, observe
from controller.config import Fallback, TargetConfig
from controller.reload import LoadedPolicy
from workbench.core import guards, observations, policies

log = logging.getLogger("scalelab.controller")


@dataclass
class Slot:
    """One policy run on a target (the live one or a shadow) and its own state."""

    policy: LoadedPolicy
    shadow: bool = False
    state: Any = None
    reset_reason: str = "start"    # why the next decide starts from initial_state

    def reset(self, reason: str) -> None:
        self.state, self.reset_reason = None, reason


@dataclass
class TargetRuntime:
    config: TargetConfig
    primary: Slot
    observer: Any
    lock: Any
    breaker: _breaker.Breaker
    shadows: list[Slot] = field(default_factory=list)
    min_interval: float = 60.0
    fallback: Fallback | None = None
    last_change: float | None = None       # when this process last changed the scale
    failed_observations: int = 0           # consecutive ticks with a needed metric missing
    lock_epoch: int = 0
    last_skip: str | None = None           # to log a repeated skip (lock, circuit) once
    uid: str | None = None
    tick: int = 0

    @property
    def ref(self):
        return self.config.ref

    @property
    def id(self) -> str:
        return self.config.ref.id

    def slots(self) -> list[Slot]:
        return [self.primary, *self.shadows]

    def metrics_needed(self) -> list[str]:
        names: dict[str, None] = {}
        for slot in self.slots():
            names.update(dict.fromkeys(sorted(slot.policy.metrics_needed())))
        return list(names)


@dataclass
class Context:
    actor: Any
    log: Callable[[dict], None]
    telemetry: Any = None
    dry_run: bool = False
    identity: str = ""
    conflict_retries: int = 5
    stopping: Callable[[], bool] = lambda: False


def _action(old: int | None, new: int | None) -> str:
    if old is None or new is None or new == old:
        return "hold"
    return "up" if new > old else "down"


def _base(rt: TargetRuntime, now: float, ctx: Context, slot: Slot) -> dict:
    return {"time": now, "ts": decision_log.iso(now), "target": rt.id, "tick": rt.tick,
            "policy": slot.policy.name, "policy_hash": slot.policy.hash, "shadow": slot.shadow,
            "dry_run": ctx.dry_run, "identity": ctx.identity}


def _emit(rt: TargetRuntime, ctx: Context, entry: dict, out: list[dict]) -> None:
    ctx.log(entry)
    out.append(entry)
    tel = ctx.telemetry
    if tel is not None and not entry["shadow"]:
        tel.decisions.labels(rt.id, entry["action"], entry["result"]).inc()


def _skip_early(rt: TargetRuntime, now: float, ctx: Context, out: list[dict], key: str, why: str,
                result: str = "skipped") -> None:
    """A tick that ends before deciding. Repeats of the same (lock/circuit) skip are counted, not logged."""
    if key and key == rt.last_skip:
        if ctx.telemetry is not None:
            ctx.telemetry.decisions.labels(rt.id, "hold", result).inc()
        return
    rt.last_skip = key or None
    entry = {**_base(rt, now, ctx, rt.primary), "observation": None, "decision": None, "rule": None,
             "reason": None, "old_replicas": None, "desired_replicas": None, "new_replicas": None,
             "action": "hold", "result": result, "why": why, "state": None, "reset": None, "fallback": False,
             "guard": None}
    _emit(rt, ctx, entry, out)


def _api_failure(rt: TargetRuntime, now: float, ctx: Context, reason: str) -> None:
    opened = rt.breaker.failure(now, reason)
    tel = ctx.telemetry
    if tel is not None:
        tel.circuit.labels(rt.id).set(int(rt.breaker.state))
    if opened:
        message = (f"circuit open for {rt.id} after {rt.breaker.failures} consecutive failures (last: {reason}); "
                   f"pausing for {rt.breaker.cooloff:g}s")
        log.error("ALERT %s", message)
        if tel is not None:
            tel.circuit_opened.labels(rt.id).inc()
        ctx.actor.event(rt.ref, rt.uid, "Warning", "AutoscalerCircuitOpen", message)


def _api_success(rt: TargetRuntime, ctx: Context) -> None:
    if rt.breaker.success():
        message = f"circuit closed for {rt.id}: the Kubernetes API answered again"
        log.warning("%s", message)
        ctx.actor.event(rt.ref, rt.uid, "Normal", "AutoscalerCircuitClosed", message)
    if ctx.telemetry is not None:
        ctx.telemetry.circuit.labels(rt.id).set(0)


def shell_guards(spec: Any, decision_replicas: int, current: int, problems: dict[str, str], needed: list[str],
                 fallback: Fallback | None, failed_observations: int, last_change: float | None,
                 min_interval: float, now: float) -> tuple[int, list[str], bool, str | None]:
    """(desired, guard notes, fallback active, skip reason) -- the shell's own checks, pure."""
    desired, notes, fell_back = decision_replicas, [], False
    if fallback is not None and failed_observations >= fallback.failure_threshold:
        if fallback.replicas > max(current, desired):      # only ever raises the count
            desired, fell_back = fallback.replicas, True
            notes.append(f"fallback to {fallback.replicas} after {failed_observations} failed observations")
    missing = [n for n in needed if n in problems]
    if desired < current and missing:
        what = ", ".join(f"{n} {problems[n]}" for n in missing)
        return current, notes, fell_back, f"fail-safe: no scale-down while metrics are missing ({what})"
    lo, hi = spec.min_replicas, spec.max_replicas
    if desired > hi:
        notes.append(f"re-check: {desired} above max {hi}")
        desired = hi
    if desired < lo:
        notes.append(f"re-check: {desired} below min {lo}")
        desired = lo
    limits = getattr(spec, "limits", None)
    if isinstance(limits, guards.Limits) and lo <= current <= hi:
        if limits.max_step_up is not None and desired - current > limits.max_step_up:
            notes.append(f"re-check: step {desired - current:+d} over maxStepUp {limits.max_step_up}")
            desired = current + limits.max_step_up
        if limits.max_step_down is not None and current - desired > limits.max_step_down:
            notes.append(f"re-check: step {desired - current:+d} over maxStepDown {limits.max_step_down}")
            desired = current - limits.max_step_down
    if desired != current and last_change is not None and now - last_change < min_interval:
        return desired, notes, fell_back, (f"rate limit: last change {now - last_change:.1f}s ago "
                                           f"(at most one per {min_interval:g}s)")
    return desired, notes, fell_back, None


def _observation_record(obs: observations.Observation, snap: observe.Snapshot) -> dict:
    return {"metrics": decision_log.encode_metrics(obs.metrics), "replicas": obs.replicas,
            "ready_replicas": obs.ready_replicas, "status_replicas": obs.status_replicas,
            "problems": dict(snap.problems), "ages": dict(snap.ages)}


def _decision_record(decision: Any) -> dict:
    record = decision.as_dict()
    del record["metrics"]   # the same values are in "observation"
    return record


def _decide(slot: Slot, obs: observations.Observation, now: float) -> tuple[Any, Any, Any, str | None]:
    """(decision, state before, state after, reset reason)."""
    reset = None
    before = slot.state
    if before is None:
        before = policies.initial_state(slot.policy.spec, obs.replicas, now)
        reset = slot.reset_reason
    decision, after = slot.policy.decide(obs, before, slot.policy.spec, now)
    return decision, before, after, reset


def reconcile(rt: TargetRuntime, now: float, ctx: Context) -> list[dict]:
    """One tick for one target; returns the decision-log entries it wrote."""
    out: list[dict] = []
    rt.tick += 1
    tel = ctx.telemetry
    if not rt.breaker.allow(now):
        _skip_early(rt, now, ctx, out, "circuit",
                    f"circuit open ({rt.breaker.last_error}); retry in {rt.breaker.retry_in(now):.1f}s")
        return out
    if tel is not None:
        tel.circuit.labels(rt.id).set(int(rt.breaker.state))
    if not ctx.dry_run:
        held = rt.lock.acquire()
        if tel is not None:
            tel.lock_held.labels(rt.id).set(1 if held else 0)
        if not held:
            holder = rt.lock.holder or "unknown"
            detail = f"; {rt.lock.error}" if rt.lock.error else ""
            if rt.last_skip is None or not rt.last_skip.startswith("lock:"):
                log.info("%s: lock %s not held (holder: %s)%s", rt.id, rt.lock.name, holder, detail)
            _skip_early(rt, now, ctx, out, f"lock:{holder}:{rt.lock.error}",
                        f"lock not held (holder: {holder}){detail}")
            return out
        if rt.lock.epoch != rt.lock_epoch:
            log.info("%s: lock %s acquired by %s", rt.id, rt.lock.name, ctx.identity)
            if rt.lock_epoch:
                for slot in rt.slots():
                    slot.reset("lock re-acquired")
            rt.lock_epoch = rt.lock.epoch
    try:
        view = ctx.actor.read(rt.ref)
    except act.ApiFailure as exc:
        _api_failure(rt, now, ctx, f"scale read failed: {exc.reason}")
        _skip_early(rt, now, ctx, out, "", f"scale read failed: {exc.reason}", result="failure")
        return out
    rt.uid = view.uid
    rt.last_skip = None

    snap = rt.observer.observe(now)
    needed = sorted(rt.primary.policy.metrics_needed())
    if any(n in snap.problems for n in needed):
        rt.failed_observations += 1
    else:
        rt.failed_observations = 0
    if tel is not None:
        for name, reason in snap.problems.items():
            tel.observation_failures.labels(rt.id, reason).inc()
        for name, value in snap.metrics.items():
            tel.metric_value.labels(rt.id, name).set(float("nan") if value is None else value)
        tel.current.labels(rt.id).set(view.replicas)
    ready = snap.metrics.get(observe.READY_BINDING)
    if ready is not None and not (math.isfinite(ready) and ready >= 0):
        ready = None
    obs = observations.Observation(metrics=snap.metrics, replicas=view.replicas,
                                   ready_replicas=int(round(ready)) if ready is not None else view.status_replicas,
                                   status_replicas=view.status_replicas)

    for slot in rt.shadows:
        decision, _, after, reset = _decide(slot, obs, now)
        slot.state = after
        entry = {**_base(rt, now, ctx, slot), "observation": _observation_record(obs, snap),
                 "decision": _decision_record(decision), "rule": decision.rule,
                 "reason": decision.reason.value, "old_replicas": obs.replicas, "desired_replicas": decision.replicas,
                 "new_replicas": obs.replicas, "action": _action(obs.replicas, decision.replicas),
                 "result": "skipped", "why": "shadow policy: decides and logs, never acts", "state": "committed",
                 "reset": reset, "fallback": False, "guard": None}
        _emit(rt, ctx, entry, out)

    api_ok = True
    for _ in range(ctx.conflict_retries + 1):
        slot = rt.primary
        decision, before, after, reset = _decide(slot, obs, now)
        current = obs.replicas
        desired, notes, fell_back, skip = shell_guards(
            slot.policy.spec, decision.replicas, current, snap.problems, needed, rt.fallback,
            rt.failed_observations, rt.last_change, rt.min_interval, now)
        result, why, new, commit, redecide, failed = _act(rt, ctx, view, current, desired, skip, now)
        api_ok = api_ok and not failed
        slot.state = after if commit else before
        entry = {**_base(rt, now, ctx, slot), "observation": _observation_record(obs, snap),
                 "decision": _decision_record(decision), "rule": decision.rule,
                 "reason": decision.reason.value, "old_replicas": current, "desired_replicas": desired,
                 "new_replicas": new, "action": _action(current, desired), "result": result, "why": why,
                 "state": "committed" if commit else "discarded", "reset": reset, "fallback": fell_back,
                 "guard": notes or None}
        _emit(rt, ctx, entry, out)
        if tel is not None:
            tel.desired.labels(rt.id).set(desired)
            tel.current.labels(rt.id).set(new)
        if redecide is None:
            break
        view = redecide
        obs = obs._replace(replicas=view.replicas, status_replicas=view.status_replicas,
                           ready_replicas=obs.ready_replicas if ready is not None else view.status_replicas)
    if api_ok:
        _api_success(rt, ctx)
    return out


def _act(rt: TargetRuntime, ctx: Context, view: act.ScaleView, current: int, desired: int, skip: str | None,
         now: float) -> tuple[str, str, int, bool, act.ScaleView | None, bool]:
    """(result, why, replicas after, commit state?, fresh view to re-decide on, API failed?)."""
    if skip is not None:
        return "skipped", skip, current, False, None, False
    if desired == current:
        return ("dry_run" if ctx.dry_run else "success"), "no change needed", current, True, None, False
    if ctx.dry_run:
        rt.last_change = now        # so that the dry run also shows the one-change-per-interval limit
        return "dry_run", f"dry run: would scale {current} -> {desired}", current, True, None, False
    if ctx.stopping():
        return "skipped", "shutting down: not starting a write", current, False, None, False
    if not rt.lock.confirm():
        if ctx.telemetry is not None:
            ctx.telemetry.lock_held.labels(rt.id).set(0)
        holder = rt.lock.holder or "unknown"
        return "skipped", f"lock lost before the write (holder now: {holder})", current, False, None, False
    attempts = 0
    while True:
        try:
            written = ctx.actor.write(rt.ref, view, desired)
        except act.Conflict:
            attempts += 1
            try:
                fresh = ctx.actor.read(rt.ref)
            except act.ApiFailure as exc:
                _api_failure(rt, now, ctx, f"re-read after a conflict failed: {exc.reason}")
                return "failure", f"conflict, then the re-read failed: {exc.reason}", current, False, None, True
            if fresh.replicas == desired:
                rt.last_change = now
                return "success", f"already at {desired} after a conflict (fresh read)", desired, True, None, False
            if fresh.replicas != view.replicas:
                return ("skipped", f"conflict: replicas changed {view.replicas} -> {fresh.replicas} by another "
                        "writer; re-deciding on the fresh count", fresh.replicas, False, fresh, False)
            if attempts > ctx.conflict_retries:
                _api_failure(rt, now, ctx, f"still conflicting after {attempts} attempts")
                return "failure", f"still conflicting after {attempts} attempts", current, False, None, True
            view = fresh
            continue
        except act.ApiFailure as exc:
            _api_failure(rt, now, ctx, f"scale write failed: {exc.reason}")
            return "failure", f"scale write failed: {exc.reason}", current, False, None, True
        rt.last_change = now
        extra = f" after {attempts} conflict(s)" if attempts else ""
        return "success", f"scaled {current} -> {written.replicas}{extra}", written.replicas, True, None, False
