"""End to end: a load spike in a real Prometheus -> the emergency rule (+2) on a Deployment or
StatefulSet in the emulator, visible in the decision log and on /metrics; dry run and shadows."""

from __future__ import annotations

import json

import pytest
import requests
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from controller import decision_log
from controller.cli import controller_group
from tests.controller import support
from tests.prometheus.conftest import free_port


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_a_load_spike_scales_the_deployment_up_by_the_emergency_step(prom, live_metrics, kube, workload, tmp_path,
                                                                     repo):
    live_metrics.set(workload, support.SPIKE)
    support.wait_scraped(prom.url, workload, support.SPIKE)
    log_path, port = tmp_path / "decisions.jsonl", free_port()
    seed = support.policy_file(tmp_path, (repo / "scenarios/policies/tiered.yaml").read_text(), "tiered.yaml")
    s = support.settings(tmp_path, prom.url, workload, policy=seed, decision_log=str(log_path), metrics_port=port,
                         metrics_address="127.0.0.1")
    c = support.controller(kube, s, sink=decision_log.DecisionLog(str(log_path)))
    try:
        assert requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 503
        c.run_once()
        assert support.replicas(kube, workload) == 6
        target = f"shop/deployment/{workload}"
        metrics = scrape(port)
        key = (("action", "up"), ("status", "success"), ("target", target))
        assert metrics[("autoscaler_decisions_total", key)] == 1.0
        assert metrics[("autoscaler_current_replicas", (("target", target),))] == 6.0
        assert metrics[("autoscaler_desired_replicas", (("target", target),))] == 6.0
        assert metrics[("autoscaler_metric_value", (("metric", "qps"), ("target", target)))] == 2400.0
        assert metrics[("autoscaler_circuit_state", (("target", target),))] == 0.0
        assert metrics[("autoscaler_policy_reloads_total", (("result", "error"),))] == 0.0
        assert metrics[("autoscaler_loop_duration_seconds_count", ())] == 1.0
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        assert requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
    finally:
        c.close()
    [entry] = decision_log.read(str(log_path))
    assert (entry["rule"], entry["reason"], entry["old_replicas"], entry["new_replicas"], entry["result"]) == \
        ("emergency", "RULE_FIRED", 4, 6, "success")
    assert entry["observation"]["metrics"] == support.SPIKE
    assert entry["policy"] == "seed-tiered" and len(entry["policy_hash"]) == 16 and entry["shadow"] is False
    read_version = kube.requests_matching("GET", r"/scale$")[0].response["metadata"]["resourceVersion"]
    [patch] = kube.requests_matching("PATCH", r"/deployments/.*/scale$")
    assert (patch.content_type, patch.body) == ("application/merge-patch+json", {
        "metadata": {"resourceVersion": read_version}, "spec": {"replicas": 6}})


def test_a_statefulset_is_scaled_through_its_scale_subresource(prom, live_metrics, kube, tmp_path):
    kube.add_statefulset(support.NS, "db-spike", replicas=3)
    live_metrics.set("db-spike", support.SPIKE)
    support.wait_scraped(prom.url, "db-spike", support.SPIKE)
    s = support.settings(tmp_path, prom.url, "db-spike", kind="sts")
    c = support.controller(kube, s)
    [entry] = c.run_once()
    c.close()
    assert (entry["target"], entry["new_replicas"], support.replicas(kube, "db-spike", "statefulsets")) == \
        ("shop/statefulset/db-spike", 5, 5)


def test_dry_run_decides_and_logs_but_never_writes_the_scale(prom, live_metrics, kube, workload, tmp_path):
    live_metrics.set(workload, support.SPIKE)
    support.wait_scraped(prom.url, workload, support.SPIKE)
    sink = decision_log.MemoryLog()
    c = support.controller(kube, support.settings(tmp_path, prom.url, workload, dry_run=True, lock="lease"), sink=sink)
    c.run_once()
    c.run_once()
    c.close()
    assert support.replicas(kube, workload) == 4
    assert support.results(sink.entries) == [("up", "dry_run", 4, 4), ("up", "dry_run", 4, 4)]
    assert sink.entries[0]["why"] == "dry run: would scale 4 -> 6" and sink.entries[0]["dry_run"] is True
    assert kube.requests_matching("PATCH") == [] and kube.requests_matching(None, "/leases") == []
    assert c.telemetry.sample("autoscaler_decisions_total", {"target": f"shop/deployment/{workload}",
                                                             "action": "up", "status": "dry_run"}) == 2.0


def test_shadow_policies_decide_on_the_same_observation_and_never_act(prom, live_metrics, kube, workload, tmp_path):
    live_metrics.set(workload, support.SPIKE)
    support.wait_scraped(prom.url, workload, support.SPIKE)
    shadow = support.policy_file(tmp_path, support.FAST_POLICY.replace("test-fast", "candidate")
                                 .replace("change: +2", "change: +5").replace("maxStepUp: 2", "maxStepUp: 5"),
                                 "candidate.yaml")
    sink = decision_log.MemoryLog()
    c = support.controller(kube, support.settings(tmp_path, prom.url, workload, shadows=(str(shadow),)), sink=sink)
    c.run_once()
    c.close()
    live, [shade] = support.results(sink.entries), [e for e in sink.entries if e["shadow"]]
    assert live == [("up", "success", 4, 6)] and support.replicas(kube, workload) == 6
    assert (shade["policy"], shade["desired_replicas"], shade["new_replicas"], shade["result"]) == \
        ("candidate", 9, 4, "skipped")
    assert shade["observation"] == sink.entries[1]["observation"] and shade["state"] == "committed"


def test_the_cli_runs_one_loop_against_the_emulator(prom, live_metrics, kube, workload, tmp_path):
    live_metrics.set(workload, support.SPIKE)
    support.wait_scraped(prom.url, workload, support.SPIKE)
    kubeconfig = support.kubeconfig_file(tmp_path, kube.url)
    args = ["run", "--policy", str(support.policy_file(tmp_path)),
            "--bindings", str(support.bindings_file(tmp_path, workload)), "--target", f"shop/deploy/{workload}",
            "--prometheus", prom.url, "--kubeconfig", str(kubeconfig), "--lock", "lease", "--once",
            "--decision-log", "-", "--identity", "cli-test"]
    result = CliRunner().invoke(controller_group, args)
    assert result.exit_code == 0, result.output
    [line] = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
    assert (line["result"], line["new_replicas"], line["identity"]) == ("success", 6, "cli-test")
    assert support.replicas(kube, workload) == 6
    lease = kube.get("leases", support.NS, f"scalelab-deployment-{workload}")
    assert lease["spec"].get("holderIdentity") in (None, "")   # released at exit


@pytest.mark.parametrize("kind", ["deployment", "statefulset"])
def test_targets_of_both_kinds_in_one_config_file(prom, live_metrics, kube, tmp_path, kind):
    name = f"multi-{kind}"
    (kube.add_deployment if kind == "deployment" else kube.add_statefulset)(support.NS, name, replicas=4)
    kube.add_deployment(support.NS, f"{name}-calm", replicas=4)
    live_metrics.set(name, support.SPIKE)
    live_metrics.set(f"{name}-calm", support.CALM)
    support.wait_scraped(prom.url, name, support.SPIKE)
    support.wait_scraped(prom.url, f"{name}-calm", support.CALM)
    support.policy_file(tmp_path)
    support.bindings_file(tmp_path, name)
    support.bindings_file(tmp_path, f"{name}-calm")
    cfg = tmp_path / "controller.yaml"
    cfg.write_text(f"""apiVersion: scalelab/v1
kind: ControllerConfig
spec:
  prometheus: {{url: "{prom.url}", timeout: 2s}}
  lock: none
  interval: 1s
  workers: 2
  targets:
    - target: shop/{kind}/{name}
      policy: policy.yaml
      bindings: bindings-{name}.yaml
      minInterval: 0
    - target: shop/deployment/{name}-calm
      policy: policy.yaml
      bindings: bindings-{name}-calm.yaml
""")
    from controller import config

    s = config.build({"once": True}, str(cfg))
    c = support.controller(kube, s)
    entries = {e["target"]: (e["action"], e["result"], e["new_replicas"]) for e in c.run_once()}
    c.close()
    assert entries == {f"shop/{kind}/{name}": ("up", "success", 6),
                       f"shop/deployment/{name}-calm": ("hold", "success", 4)}
