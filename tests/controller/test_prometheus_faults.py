"""Observation faults against a real Prometheus: down, slow (timeout), NaN, stale, absent.
None of them may cause a scale-down; the fallback raises replicas after N failed observations."""

from __future__ import annotations

import socket

import pytest

from controller import decision_log, observe
from tests.controller import support
from tests.prometheus.conftest import free_port


@pytest.fixture
def silent_url():
    """A Prometheus that accepts connections and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


def _low(prom, live_metrics, workload):
    live_metrics.set(workload, support.LOW)
    support.wait_scraped(prom.url, workload, support.LOW)


def test_control_low_load_with_healthy_metrics_scales_down(prom, live_metrics, kube, workload, tmp_path):
    _low(prom, live_metrics, workload)
    sink = decision_log.MemoryLog()
    c = support.controller(kube, support.settings(tmp_path, prom.url, workload), sink=sink)
    c.run_once()
    c.close()
    assert support.results(sink.entries) == [("down", "success", 4, 3)]
    assert sink.entries[0]["rule"] == "scale-down"


def _fault(kind: str, prom, live_metrics, workload, silent_url):
    """Apply one fault; returns (prometheus URL, extra settings, reason code expected, metric affected)."""
    if kind == "down":
        return f"http://127.0.0.1:{free_port()}", {}, "error", "cpu"
    if kind == "slow":
        return silent_url, {"prometheus_timeout": 0.4}, "timeout", "cpu"
    if kind == "nan":
        live_metrics.set(workload, cpu=float("nan"))
        support.wait_scraped(prom.url, workload, {"cpu": float("nan")})
    elif kind == "stale":
        # a series whose samples carry timestamps 120 s old (a lagging exporter): still inside the
        # 5-minute lookback, so Prometheus answers it; only its sample time tells it is stale.
        # (A fresh series cannot turn old: Prometheus drops out-of-order samples.)
        live_metrics.set(workload, cpu=0.1, age=120)
        support.wait_until(lambda: (support.prom_value(prom.url, f'time() - max(timestamp(app_cpu{{workload="{workload}"}}))')
                                    or 0) > 100, what="the stale sample")
    elif kind == "absent":
        live_metrics.drop(workload, "cpu")
        support.wait_until(lambda: support.prom_value(prom.url, f'max(app_cpu{{workload="{workload}"}})') is None,
                           what="cpu to disappear")
    return prom.url, {"max_age": 10.0}, kind, "cpu"


@pytest.mark.parametrize("kind", ["down", "slow", "nan", "stale", "absent"])
def test_failed_observations_never_scale_down(kind, prom, live_metrics, kube, workload, tmp_path, silent_url):
    if kind == "stale":
        live_metrics.set(workload, {k: v for k, v in support.LOW.items() if k != "cpu"})
    else:
        _low(prom, live_metrics, workload)
    url, extra, reason, metric = _fault(kind, prom, live_metrics, workload, silent_url)
    sink = decision_log.MemoryLog()
    c = support.controller(kube, support.settings(tmp_path, url, workload, **extra), sink=sink)
    c.run_once()
    c.run_once()
    c.close()
    assert support.replicas(kube, workload) == 4
    assert support.results(sink.entries) == [("hold", "success", 4, 4)] * 2
    entry = sink.entries[-1]
    assert entry["observation"]["problems"][metric] == reason
    assert entry["observation"]["metrics"][metric] is None
    assert entry["reason"] in ("METRICS_MISSING", "NO_RULE_MATCHED")
    target = f"shop/deployment/{workload}"
    assert c.telemetry.sample("autoscaler_observation_failures_total", {"target": target, "reason": reason}) >= 2
    if kind == "stale":
        assert entry["observation"]["metrics"]["p95_ms"] == support.LOW["p95_ms"]   # the fresh ones are kept


def test_one_hung_prometheus_costs_one_timeout_per_loop_not_one_per_metric(kube, workload, tmp_path, silent_url):
    sink = decision_log.MemoryLog()
    c = support.controller(kube, support.settings(tmp_path, silent_url, workload, prometheus_timeout=0.3,
                                                  prometheus_retries=0), sink=sink)
    import time

    started = time.monotonic()
    c.run_once()
    elapsed = time.monotonic() - started
    c.close()
    problems = sink.entries[0]["observation"]["problems"]
    assert set(problems.values()) == {"timeout"} and len(problems) == 4
    assert elapsed < 1.2


def test_fallback_replicas_after_n_failed_observations_never_down(prom, live_metrics, kube, workload, tmp_path):
    sink = decision_log.MemoryLog()
    dead = f"http://127.0.0.1:{free_port()}"
    c = support.controller(kube, support.settings(tmp_path, dead, workload, fallback=(2, 7)), sink=sink)
    for _ in range(4):
        c.run_once()
    c.close()
    # tick 1: one failure, hold; tick 2: fallback, +2 (the policy's maxStepUp, re-checked); tick 3: 7; tick 4: hold
    assert support.results(sink.entries) == [("hold", "success", 4, 4), ("up", "success", 4, 6),
                                             ("up", "success", 6, 7), ("hold", "success", 7, 7)]
    assert [e["fallback"] for e in sink.entries] == [False, True, True, False]
    assert sink.entries[1]["guard"] == ["fallback to 7 after 2 failed observations",
                                        "re-check: step +3 over maxStepUp 2"]
    assert support.replicas(kube, workload) == 7

    kube.set_replicas("deployments", support.NS, workload, 9)     # above the fallback: it never scales down
    sink2 = decision_log.MemoryLog()
    c = support.controller(kube, support.settings(tmp_path, dead, workload, fallback=(1, 7)), sink=sink2)
    c.run_once()
    c.close()
    assert support.results(sink2.entries) == [("hold", "success", 9, 9)] and sink2.entries[0]["fallback"] is False


def test_fallback_recovers_when_metrics_come_back(prom, live_metrics, kube, workload, tmp_path):
    live_metrics.set(workload, support.CALM)
    support.wait_scraped(prom.url, workload, support.CALM)
    sink = decision_log.MemoryLog()
    c = support.controller(kube, support.settings(tmp_path, prom.url, workload, fallback=(1, 8)), sink=sink)
    c.run_once()
    assert c.targets[0].failed_observations == 0
    live_metrics.drop(workload, "qps")
    support.wait_until(lambda: support.prom_value(prom.url, f'max(app_qps{{workload="{workload}"}})') is None,
                       what="qps to disappear")
    c.run_once()
    assert (c.targets[0].failed_observations, sink.entries[-1]["fallback"], support.replicas(kube, workload)) == \
        (1, True, 6)
    live_metrics.set(workload, support.CALM)
    support.wait_scraped(prom.url, workload, support.CALM)
    c.run_once()
    c.close()
    assert (c.targets[0].failed_observations, sink.entries[-1]["fallback"], sink.entries[-1]["action"]) == \
        (0, False, "hold")


@pytest.mark.parametrize("query, expected", [
    ('max(app_cpu{workload="w"})', ['app_cpu{workload="w"}']),
    ('sum(rate(http_requests_total{service="a"}[2m])) / sum by (pod) (up)', ['http_requests_total{service="a"}', "up"]),
    ('1000 * histogram_quantile(0.95, sum by (le) (rate(x_bucket{a="}"}[5m])))', ['x_bucket{a="}"}']),
    ('a + on(instance) group_left(job) b offset 5m > bool 3', ["a", "b"]),
    ('{__name__=~"a|b", job="x"} or vector(0)', ['{__name__=~"a|b", job="x"}']),
    ('label_replace(foo, "dst", "$1", "src", "(.*)") @ start()', ["foo"]),
    ("scalar(1)", []),
], ids=["aggregated", "rate-and-bare", "quoted-brace", "grouping-modifiers", "name-matcher", "strings-at", "scalar"])
def test_selectors_found_in_promql(query, expected):
    assert observe.selectors(query) == expected


def test_all_metrics_go_in_one_query_and_a_scalar_binding_falls_back_to_one_query_each(prom, live_metrics, kube,
                                                                                       workload, tmp_path):
    live_metrics.set(workload, support.CALM)
    support.wait_scraped(prom.url, workload, support.CALM)
    sink = decision_log.MemoryLog()
    c = support.controller(kube, support.settings(tmp_path, prom.url, workload), sink=sink)
    observer = c.targets[0].observer
    assert observer.combined.count("scalelab_metric") == 4 and observer.combined.count("scalelab_selector") == 4
    c.run_once()
    c.close()
    assert sink.entries[0]["observation"]["metrics"] == support.CALM and observer.combined is not None

    live_metrics.set(f"{workload}-other", memory=0.2)
    support.wait_scraped(prom.url, f"{workload}-other", {"memory": 0.2})
    s = support.settings(tmp_path, prom.url, workload)
    support.bindings_file(tmp_path, workload, qps=f'scalar(max(app_qps{{workload="{workload}"}}))',
                          memory="app_memory")     # the same file, now with a scalar and one series per workload
    sink = decision_log.MemoryLog()
    c = support.controller(kube, s, sink=sink)
    c.run_once()
    c.close()
    observation = sink.entries[0]["observation"]
    assert c.targets[0].observer.combined is None
    assert (observation["metrics"]["qps"], observation["metrics"]["cpu"]) == (support.CALM["qps"], support.CALM["cpu"])
    assert observation["problems"] == {"memory": "invalid"}
