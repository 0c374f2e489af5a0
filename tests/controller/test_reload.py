"""Hot reload from a file and from a ConfigMap: valid versions swap atomically (state reset),
invalid ones are rejected, logged and counted once while the old policy keeps running."""

from __future__ import annotations

import logging
import os

import pytest
from kubernetes import client

from controller import decision_log, reload
from workbench.core import errors
from tests.controller import support

GENTLE_AT_40 = support.FAST_POLICY.replace("test-fast", "gentle-40").replace("cpu > 0.70", "cpu > 0.40")
BROKEN = support.FAST_POLICY.replace("cpu > 0.70", "cpuu > 0.70")
NEEDS_QUEUE = support.FAST_POLICY.replace("spec:\n", "spec:\n  metrics: {custom: [queue_depth]}\n").replace(
    "memory > 0.85", "queue_depth > 100")


def replace_atomically(path, text):
    """As ``scalelab promote --to file:PATH`` does: temp file + rename."""
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@pytest.fixture
def calm(prom, live_metrics, workload):
    live_metrics.set(workload, support.CALM)
    support.wait_scraped(prom.url, workload, support.CALM)
    return workload


def test_a_valid_new_policy_file_is_swapped_in_and_its_state_starts_fresh(kube, prom, tmp_path, calm):
    path = support.policy_file(tmp_path)
    sink = decision_log.MemoryLog()
    c = support.controller(kube, support.settings(tmp_path, prom.url, calm, policy=path), sink=sink)
    c.run_once()
    replace_atomically(path, GENTLE_AT_40)
    c.run_once()
    c.close()
    first, second = sink.entries
    assert (first["policy"], first["action"], first["reset"]) == ("test-fast", "hold", "start")
    assert (second["policy"], second["rule"], second["new_replicas"], second["reset"]) == \
        ("gentle-40", "gentle", 5, "policy reloaded")
    assert second["policy_hash"] == reload.parse(GENTLE_AT_40, "x").hash != first["policy_hash"]
    assert c.telemetry.sample("autoscaler_policy_reloads_total", {"result": "success"}) == 1.0


@pytest.mark.parametrize("bad, message", [
    (BROKEN, "unknown metric 'cpuu'"),
    (NEEDS_QUEUE, "metric 'queue_depth' has no binding in"),
    ("kind: TieredPolicy\nspec: [", "invalid YAML"),
], ids=["unknown-metric", "unbound-metric", "yaml-syntax"])
def test_an_invalid_policy_is_rejected_counted_once_and_the_old_one_keeps_running(bad, message, kube, prom, tmp_path,
                                                                                  calm, caplog):
    path = support.policy_file(tmp_path)
    sink = decision_log.MemoryLog()
    c = support.controller(kube, support.settings(tmp_path, prom.url, calm, policy=path), sink=sink)
    c.run_once()
    caplog.set_level(logging.ERROR, logger="scalelab.controller")
    replace_atomically(path, bad)
    c.run_once()
    c.run_once()
    assert c.telemetry.sample("autoscaler_policy_reloads_total", {"result": "error"}) == 1.0
    assert [e["policy"] for e in sink.entries] == ["test-fast"] * 3
    assert [e["reset"] for e in sink.entries] == ["start", None, None]      # the old state kept running
    [record] = [r for r in caplog.records if "reload rejected" in r.getMessage()]
    assert message in record.getMessage() and "keeping test-fast" in record.getMessage()
    replace_atomically(path, GENTLE_AT_40)                                   # a good version after a bad one
    c.run_once()
    c.close()
    assert sink.entries[-1]["policy"] == "gentle-40"
    assert c.telemetry.sample("autoscaler_policy_reloads_total", {"result": "success"}) == 1.0


def test_a_policy_in_a_configmap_is_watched_like_a_file(kube, prom, tmp_path, calm):
    kube.add_configmap(support.NS, "autoscaler-policy", {"policy.yaml": support.FAST_POLICY})
    sink = decision_log.MemoryLog()
    s = support.settings(tmp_path, prom.url, calm, policy="configmap:shop/autoscaler-policy")
    c = support.controller(kube, s, sink=sink)
    c.run_once()
    core = client.CoreV1Api(kube.client())
    cm = core.read_namespaced_config_map("autoscaler-policy", support.NS)
    cm.data["policy.yaml"] = GENTLE_AT_40                                   # what `scalelab promote` writes
    core.replace_namespaced_config_map("autoscaler-policy", support.NS, cm)
    c.run_once()
    c.run_once()
    cm = core.read_namespaced_config_map("autoscaler-policy", support.NS)
    cm.data["policy.yaml"] = BROKEN
    core.replace_namespaced_config_map("autoscaler-policy", support.NS, cm)
    c.run_once()
    c.close()
    assert [e["policy"] for e in sink.entries] == ["test-fast", "gentle-40", "gentle-40", "gentle-40"]
    assert [e["reset"] for e in sink.entries] == ["start", "policy reloaded", None, None]
    assert c.telemetry.sample("autoscaler_policy_reloads_total", {"result": "error"}) == 1.0


def test_start_up_errors_name_the_source(kube, prom, tmp_path, workload):
    with pytest.raises(errors.UserError, match="ConfigMap shop/nope not found"):
        support.controller(kube, support.settings(tmp_path, prom.url, workload, policy="configmap:shop/nope"))
    kube.add_configmap(support.NS, "empty", {"other": "x"})
    with pytest.raises(errors.UserError, match="has no key 'policy.yaml'"):
        support.controller(kube, support.settings(tmp_path, prom.url, workload, policy="configmap:shop/empty"))
    with pytest.raises(errors.SpecError, match=r"policy.yaml:\d+: spec.rules\[1\].when.any\[0\]: unknown metric 'cpuu'"):
        support.controller(kube, support.settings(tmp_path, prom.url, workload,
                                                  policy=support.policy_file(tmp_path, BROKEN)))
    with pytest.raises(errors.UserError, match=r"no binding for metric 'queue_depth'"):
        support.controller(kube, support.settings(tmp_path, prom.url, workload,
                                                  policy=support.policy_file(tmp_path, NEEDS_QUEUE)))


def test_hpa_with_pod_level_metrics_is_rejected_and_external_metrics_run(kube, prom, live_metrics, tmp_path, repo,
                                                                         workload):
    hpa = support.policy_file(tmp_path, (repo / "scenarios/policies/hpa-default.yaml").read_text(), "hpa.yaml")
    with pytest.raises(errors.UserError, match=r"HPAPolicy metric resource/cpu \(type Resource\) needs per-pod "
                                               r"samples .* use an External \(or Object\) metric"):
        support.controller(kube, support.settings(tmp_path, prom.url, workload, policy=hpa))
    external = support.policy_file(tmp_path, """apiVersion: scalelab/v1
kind: HPAPolicy
metadata: {name: hpa-external-qps}
spec:
  minReplicas: 2
  maxReplicas: 20
  metrics:
    - type: External
      external: {metric: {name: qps}, target: {type: AverageValue, averageValue: "200"}}
""", "hpa-external.yaml")
    live_metrics.set(workload, support.SPIKE)                 # 2400 qps / 200 per replica = 12
    support.wait_scraped(prom.url, workload, support.SPIKE)
    sink = decision_log.MemoryLog()
    c = support.controller(kube, support.settings(tmp_path, prom.url, workload, policy=external), sink=sink)
    c.run_once()
    c.close()
    assert support.results(sink.entries) == [("up", "success", 4, 8)]   # legacy HPA: at most max(2x, 4) per sync
    assert sink.entries[0]["rule"] == "external/qps"
