"""The reconcile without a network (in-memory scale, static metrics): shell guards, state commits,
the circuit breaker's states, the decision log format."""

from __future__ import annotations

import json
import math

import pytest

from controller import act, breaker, decision_log, locks, loop, observe, parity, reload, telemetry
from controller.config import Fallback, TargetConfig, TargetRef
from tests.controller import support

REF = TargetRef.parse("shop/deployment/web")
SEED_LIKE = support.FAST_POLICY.replace("minSecondsBetweenChanges: 0", "minSecondsBetweenChanges: 30")


def runtime(values, replicas=4, text=support.FAST_POLICY, **options):
    mem = act.MemoryScale()
    mem.add(REF, replicas)
    rt = loop.TargetRuntime(config=TargetConfig(REF, "p.yaml", "b.yaml"), primary=loop.Slot(reload.parse(text, "p.yaml")),
                            observer=observe.StaticObserver(values), lock=locks.NoLock(),
                            breaker=breaker.Breaker(3, 10.0), **options)
    sink = decision_log.MemoryLog()
    return rt, mem, sink, loop.Context(actor=mem, log=sink.write, telemetry=telemetry.Telemetry())


SPEC = reload.parse(support.FAST_POLICY, "p").spec   # min 2, max 20, maxStepUp 2, maxStepDown 1


@pytest.mark.parametrize("decided, current, problems, fallback, failed, last, expected", [
    (6, 4, {}, None, 0, None, (6, [], False, None)),
    (3, 4, {"cpu": "stale"}, None, 0, None, (4, [], False, "fail-safe: no scale-down while metrics are missing (cpu stale)")),
    (5, 4, {"qps": "nan"}, None, 0, None, (5, [], False, None)),
    (25, 18, {}, None, 0, None, (20, ["re-check: 25 above max 20"], False, None)),
    (1, 2, {}, None, 0, None, (2, ["re-check: 1 below min 2"], False, None)),
    (9, 4, {}, None, 0, None, (6, ["re-check: step +5 over maxStepUp 2"], False, None)),
    (1, 5, {}, None, 0, None, (4, ["re-check: 1 below min 2", "re-check: step -3 over maxStepDown 1"], False, None)),
    (4, 4, {"cpu": "error"}, Fallback(3, 10), 3, None, (6, ["fallback to 10 after 3 failed observations",
                                                         "re-check: step +6 over maxStepUp 2"], True, None)),
    (4, 4, {"cpu": "error"}, Fallback(3, 10), 2, None, (4, [], False, None)),
    (4, 12, {"cpu": "error"}, Fallback(1, 10), 5, None, (12, [], False, "fail-safe: no scale-down while metrics are "
                                                                       "missing (cpu error)")),
    (6, 4, {}, None, 0, 100.0, (6, [], False, "rate limit: last change 20.0s ago (at most one per 60s)")),
    (6, 4, {}, None, 0, 50.0, (6, [], False, None)),
], ids=["plain", "fail-safe", "up-with-missing", "max", "min", "step-up", "step-down", "fallback", "fallback-not-yet",
        "fallback-never-down", "rate-limited", "rate-ok"])
def test_shell_guards(decided, current, problems, fallback, failed, last, expected):
    assert loop.shell_guards(SPEC, decided, current, problems, ["cpu", "memory", "p95_ms", "qps"], fallback, failed,
                             last, 60.0, 120.0) == expected


def test_the_shell_allows_at_most_one_change_per_min_interval_and_keeps_state_on_a_skip():
    rt, mem, sink, ctx = runtime(support.SPIKE, min_interval=60.0)
    for now in (1000.0, 1010.0, 1061.0):
        loop.reconcile(rt, now, ctx)
    assert support.results(sink.entries) == [("up", "success", 4, 6), ("up", "skipped", 6, 6),
                                             ("up", "success", 6, 8)]
    assert sink.entries[1]["why"] == "rate limit: last change 10.0s ago (at most one per 60s)"
    assert [e["state"] for e in sink.entries] == ["committed", "discarded", "committed"]
    assert parity.replay(sink.entries, {sink.entries[0]["policy_hash"]: support.FAST_POLICY}).ok


def test_the_core_cooldown_and_a_failed_write():
    rt, mem, sink, ctx = runtime(support.SPIKE, text=SEED_LIKE)

    class Failing:
        def __getattr__(self, name):
            return getattr(mem, name)

        def write(self, ref, view, replicas):
            raise act.ApiFailure("HTTP 500 Internal Server Error")

    ctx.actor = Failing()
    loop.reconcile(rt, 1000.0, ctx)
    ctx.actor = mem
    loop.reconcile(rt, 1005.0, ctx)      # the failed change did not start the 30 s cooldown
    loop.reconcile(rt, 1010.0, ctx)      # the successful one did
    assert [(e["result"], e["reason"]) for e in sink.entries] == [("failure", "RULE_FIRED"), ("success", "RULE_FIRED"),
                                                                  ("success", "COOLDOWN")]
    assert rt.breaker.failures == 0 and mem.writes == 1
    assert parity.replay(sink.entries, {sink.entries[0]["policy_hash"]: SEED_LIKE}).ok


def test_breaker_states():
    b = breaker.Breaker(3, 10.0)
    assert [b.failure(t) for t in (0, 1, 2)] == [False, False, True]
    assert (b.state, b.allow(5), b.retry_in(5)) == (breaker.State.OPEN, False, 7.0)
    assert b.allow(12.0) and b.state is breaker.State.HALF_OPEN
    assert b.failure(12.5) and b.state is breaker.State.OPEN and b.opened_at == 12.5
    assert b.allow(22.5) and b.success() and b.state is breaker.State.CLOSED and b.failures == 0
    assert not b.success()
    with pytest.raises(ValueError):
        breaker.Breaker(0, 1)


def test_the_decision_log_writes_whole_json_lines(tmp_path):
    path = tmp_path / "sub" / "log.jsonl"
    log = decision_log.DecisionLog(str(path), fsync=True)
    log.write({"metrics": decision_log.encode_metrics({"p95_ms": math.inf, "cpu": None, "qps": 2.5})})
    log.close()
    log.write({"after": "close"})                           # ignored, never a partial line
    [entry] = decision_log.read(str(path))
    assert entry == {"metrics": {"p95_ms": "+Inf", "cpu": None, "qps": 2.5}}
    assert decision_log.decode_metrics(entry["metrics"]) == {"p95_ms": math.inf, "cpu": None, "qps": 2.5}
    path.write_text(path.read_text() + '{"half":')
    with pytest.raises(ValueError, match="truncated line"):
        decision_log.read(str(path))
    assert json.loads(path.read_text().splitlines()[0])
