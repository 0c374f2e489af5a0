"""Kubernetes API faults through the official client and the emulator: 500s and timeouts (retries,
circuit breaker, Event, recovery), 409 storms and concurrent writers (no lost update), idempotence."""

from __future__ import annotations

import logging
import time

import pytest

from controller import decision_log, parity
from tests.controller import support


@pytest.fixture
def spiking(prom, live_metrics, workload):
    live_metrics.set(workload, support.SPIKE)
    support.wait_scraped(prom.url, workload, support.SPIKE)
    return workload


def scale_path(kube, workload):
    return kube.path_pattern("deployments", support.NS, workload, "scale")


def run(kube, prom, tmp_path, workload, ticks=1, **options):
    sink = decision_log.MemoryLog()
    c = support.controller(kube, support.settings(tmp_path, prom.url, workload, **options), sink=sink)
    for _ in range(ticks):
        c.run_once()
    return c, sink


def test_a_transient_500_is_retried_within_the_tick(kube, prom, tmp_path, spiking):
    kube.fail_next(1, status=500, method="GET", path=scale_path(kube, spiking))
    c, sink = run(kube, prom, tmp_path, spiking)
    c.close()
    assert support.results(sink.entries) == [("up", "success", 4, 6)]
    assert [r.status for r in kube.requests_matching("GET", scale_path(kube, spiking))] == [500, 200]
    assert c.targets[0].breaker.failures == 0


@pytest.mark.parametrize("fault", ["500", "timeout"])
def test_the_breaker_opens_after_3_failures_alerts_and_recovers_after_the_cooloff(fault, kube, prom, tmp_path,
                                                                                 spiking, caplog):
    path = scale_path(kube, spiking)
    rule = (kube.fail_next(None, status=500, path=path) if fault == "500"
            else kube.hang_next(None, seconds=5, path=path))
    caplog.set_level(logging.WARNING, logger="scalelab.controller")
    c, sink = run(kube, prom, tmp_path, spiking, ticks=3, api_timeout=0.3, api_retries=1, breaker_cooloff=1.0)
    target = f"shop/deployment/{spiking}"
    assert support.results(sink.entries) == [("hold", "failure", None, None)] * 3
    reason = "HTTP 500 Internal Server Error" if fault == "500" else "timeout"
    assert reason in sink.entries[0]["why"] and "after 2 attempts" in sink.entries[0]["why"]
    assert c.telemetry.sample("autoscaler_circuit_state", {"target": target}) == 1.0
    assert c.telemetry.sample("autoscaler_circuit_opened_total", {"target": target}) == 1.0
    assert any("ALERT circuit open for " + target in r.getMessage() for r in caplog.records)
    [event] = kube.events(support.NS)
    assert (event["type"], event["reason"], event["involvedObject"]["kind"], event["involvedObject"]["name"],
            event["source"]["component"]) == ("Warning", "AutoscalerCircuitOpen", "Deployment", spiking,
                                              "scalelab-controller")
    assert "after 3 consecutive failures" in event["message"]

    calls = len(kube.requests_matching(None, path))
    c.run_once()                                   # open: skipped without touching the API
    assert len(kube.requests_matching(None, path)) == calls
    assert sink.entries[-1]["result"] == "skipped" and sink.entries[-1]["why"].startswith("circuit open")

    kube.remove_fault(rule)
    time.sleep(1.05)                               # the cool-off
    c.run_once()                                   # half-open probe succeeds -> closed
    c.close()
    assert support.results(sink.entries)[-1] == ("up", "success", 4, 6)
    assert c.telemetry.sample("autoscaler_circuit_state", {"target": target}) == 0.0
    assert [e["reason"] for e in kube.events(support.NS)] == ["AutoscalerCircuitOpen", "AutoscalerCircuitClosed"]


def test_a_failed_probe_reopens_the_circuit(kube, prom, tmp_path, spiking):
    kube.fail_next(None, status=503, path=scale_path(kube, spiking))
    c, sink = run(kube, prom, tmp_path, spiking, ticks=3, api_retries=0, breaker_cooloff=0.5)
    time.sleep(0.55)
    c.run_once()                                   # half-open probe fails -> open again at once
    c.close()
    assert c.targets[0].breaker.state.name == "OPEN" and c.targets[0].breaker.failures == 4
    assert [e["reason"] for e in kube.events(support.NS)] == ["AutoscalerCircuitOpen"] * 2


def test_a_failed_write_does_not_start_the_policy_cooldown(kube, prom, tmp_path, spiking, repo):
    """The seed policy allows one change per 60 s; a write that failed must not use up that change."""
    seed = support.policy_file(tmp_path, (repo / "scenarios/policies/tiered.yaml").read_text(), "seed.yaml")
    kube.fail_next(3, status=500, method="PATCH", path=scale_path(kube, spiking))
    c, sink = run(kube, prom, tmp_path, spiking, ticks=2, policy=seed, api_retries=2)
    c.close()
    assert support.results(sink.entries) == [("up", "failure", 4, 4), ("up", "success", 4, 6)]
    assert [e["state"] for e in sink.entries] == ["discarded", "committed"]
    assert sink.entries[1]["reason"] == "RULE_FIRED"        # not COOLDOWN


def test_a_409_storm_converges_with_fresh_reads(kube, prom, tmp_path, spiking):
    kube.conflict_next(3, path=scale_path(kube, spiking))
    c, sink = run(kube, prom, tmp_path, spiking)
    c.close()
    assert support.results(sink.entries) == [("up", "success", 4, 6)]
    assert sink.entries[0]["why"] == "scaled 4 -> 6 after 3 conflict(s)"
    assert [r.status for r in kube.requests_matching("PATCH", scale_path(kube, spiking))] == [409, 409, 409, 200]
    assert len(kube.requests_matching("GET", scale_path(kube, spiking))) == 4     # the first read + 3 fresh ones
    assert support.replicas(kube, spiking) == 6


def test_an_endless_409_storm_fails_the_tick_and_counts_for_the_breaker(kube, prom, tmp_path, spiking):
    kube.conflict_next(None, path=scale_path(kube, spiking))
    c, sink = run(kube, prom, tmp_path, spiking)
    c.close()
    assert support.results(sink.entries) == [("up", "failure", 4, 4)]
    assert sink.entries[0]["why"] == "still conflicting after 6 attempts"
    assert c.targets[0].breaker.failures == 1 and support.replicas(kube, spiking) == 4


def test_a_concurrent_touch_is_reapplied_on_the_fresh_version(kube, prom, tmp_path, spiking):
    kube.touch_before_next(1, path=scale_path(kube, spiking))
    c, sink = run(kube, prom, tmp_path, spiking)
    c.close()
    assert support.results(sink.entries) == [("up", "success", 4, 6)]
    assert "after 1 conflict(s)" in sink.entries[0]["why"]


@pytest.mark.parametrize("metrics, other, expected", [
    (support.SPIKE, 9, [("up", "skipped", 4, 9), ("up", "success", 9, 11)]),
    (support.LOW, 8, [("down", "skipped", 4, 8), ("down", "success", 8, 7)]),
    (support.SPIKE, 6, [("up", "success", 4, 6)]),
], ids=["up-then-other-scales-up", "down-then-other-scales-up", "other-already-did-it"])
def test_a_concurrent_scale_is_never_overwritten_blindly(metrics, other, expected, prom, live_metrics, kube,
                                                         workload, tmp_path):
    live_metrics.set(workload, metrics)
    support.wait_scraped(prom.url, workload, metrics)
    # another writer (kubectl scale) changes the count while our patch is on its way
    kube.add_latency(0, count=1, method="PATCH", path=scale_path(kube, workload),
                     where=lambda request: kube.set_replicas("deployments", support.NS, workload, other) and True)
    c, sink = run(kube, prom, tmp_path, workload)
    c.close()
    assert support.results(sink.entries) == expected
    assert support.replicas(kube, workload) == expected[-1][3]
    report = parity.replay(sink.entries, {sink.entries[0]["policy_hash"]: support.FAST_POLICY})
    assert report.ok and report.replayed == len(expected)
    if len(expected) == 2:
        assert sink.entries[0]["state"] == "discarded" and "by another writer" in sink.entries[0]["why"]


def test_no_write_when_the_desired_count_is_already_there(prom, live_metrics, kube, workload, tmp_path):
    live_metrics.set(workload, support.CALM)
    support.wait_scraped(prom.url, workload, support.CALM)
    c, sink = run(kube, prom, tmp_path, workload, ticks=3)
    c.close()
    assert support.results(sink.entries) == [("hold", "success", 4, 4)] * 3
    assert kube.requests_matching("PATCH") == [] and kube.requests_matching("PUT") == []
