"""Sim/live parity: a decision log recorded live (emulator + Prometheus with changing metrics, a
failed write, a concurrent writer, a shadow policy) replays decision for decision through the
core's decide, the path the simulator uses."""

from __future__ import annotations

import copy
import threading
import time

from controller import decision_log, parity
from tests.controller import support

TIMED = """apiVersion: scalelab/v1
kind: TieredPolicy
metadata: {name: timed}
spec:
  replicas: {min: 2, max: 30}
  limits: {maxStepUp: 2, maxStepDown: 1, minSecondsBetweenChanges: 0.6, scaleDownStabilizationSeconds: 1.5,
           scaleDownDelayAfterScaleUpSeconds: 0.5}
  rules:
    - name: emergency
      when: {all: [cpu > 0.80, qps > 1000, p95_ms > 800]}
      action: {change: +2}
    - name: gentle
      when: {any: [cpu > 0.70, memory > 0.85]}
      action: {change: +1, recheckAfterSeconds: 1}
    - name: scale-down
      when: {all: [cpu < 0.30, p95_ms < 250], forSeconds: 0.8}
      action: {change: -1}
"""
SHADOW_HPA = """apiVersion: scalelab/v1
kind: HPAPolicy
metadata: {name: shadow-hpa}
spec:
  minReplicas: 2
  maxReplicas: 30
  metrics:
    - type: External
      external: {metric: {name: qps}, target: {type: AverageValue, averageValue: "150"}}
  behavior:
    scaleDown: {stabilizationWindowSeconds: 2}
"""
PHASES = [(support.SPIKE, 2.0), ({**support.CALM, "cpu": 0.75}, 2.0), (support.LOW, 3.0), ("drop-qps", 1.5),
          (support.LOW, 1.5), (support.SPIKE, 1.5)]


def test_a_live_decision_log_replays_exactly_through_the_core(prom, live_metrics, kube, workload, tmp_path):
    live_metrics.set(workload, support.LOW)
    support.wait_scraped(prom.url, workload, support.LOW)
    policy = support.policy_file(tmp_path, TIMED, "timed.yaml")
    shadow = support.policy_file(tmp_path, SHADOW_HPA, "shadow.yaml")
    log_path = tmp_path / "decisions.jsonl"
    s = support.settings(tmp_path, prom.url, workload, policy=policy, shadows=(str(shadow),), interval=0.25,
                         decision_log=str(log_path), max_age=5.0)
    c = support.controller(kube, s, sink=decision_log.DecisionLog(str(log_path)))
    scale = kube.path_pattern("deployments", support.NS, workload, "scale")
    runner = threading.Thread(target=c.run)
    runner.start()
    try:
        for i, (values, seconds) in enumerate(PHASES):
            if values == "drop-qps":
                live_metrics.drop(workload, "qps")
            else:
                live_metrics.set(workload, values)
            if i == 1:
                kube.fail_next(3, status=500, method="PATCH", path=scale)       # one failed write
            if i == 2:
                kube.add_latency(0, count=1, method="PATCH", path=scale,     # a concurrent kubectl scale
                                 where=lambda r: kube.set_replicas("deployments", support.NS, workload, 12) and True)
            time.sleep(seconds)
    finally:
        c.stop()
        runner.join(timeout=20)
    entries = decision_log.read(str(log_path))
    live = [e for e in entries if not e["shadow"]]
    results = {(e["action"], e["result"]) for e in live}
    assert {("up", "success"), ("down", "success"), ("up", "failure")} <= results, results
    assert any(e["state"] == "discarded" for e in live)
    assert any(e["observation"]["problems"].get("qps") == "absent" for e in live)
    assert {e["reason"] for e in live} >= {"RULE_FIRED", "NO_RULE_MATCHED"}
    assert sum(e["shadow"] for e in entries) >= 20

    texts = {parity.policy_hash(TIMED): TIMED, parity.policy_hash(SHADOW_HPA): SHADOW_HPA}
    report = parity.replay(entries, texts)
    assert report.ok, "\n".join(map(str, report.mismatches[:5]))
    assert report.replayed == sum(1 for e in entries if e["decision"] is not None) > 40

    tampered = copy.deepcopy(entries)
    first_up = next(e for e in tampered if e["action"] == "up" and not e["shadow"])
    first_up["decision"]["replicas"] += 1
    report = parity.replay(tampered, texts)
    assert not report.ok and report.mismatches[0].field == "replicas"
