"""SIGTERM while a slow Kubernetes call is in flight: the real CLI in a subprocess exits 0, the
decision log is intact JSON lines, no write is started after the signal, and the lock is released."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest

from controller import decision_log, locks
from controller.config import TargetRef
from tests.controller import support

REPO = support.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("backend", ["lease", "redis"])
def test_sigterm_mid_tick_exits_0_with_an_intact_log_and_the_lock_released(backend, prom, live_metrics, kube,
                                                                          workload, tmp_path, redis_server):
    live_metrics.set(workload, support.SPIKE)
    support.wait_scraped(prom.url, workload, support.SPIKE)
    log_path = tmp_path / "decisions.jsonl"
    key = f"scalelab-sigterm-{uuid.uuid4().hex[:8]}"
    lock = "lease" if backend == "lease" else f"{redis_server.url}/{key}"
    policy = support.policy_file(tmp_path, support.FAST_POLICY.replace("max: 20", "max: 500"))  # always room to grow
    args = [sys.executable, "-m", "controller.cli", "run", "--policy", str(policy),
            "--bindings", str(support.bindings_file(tmp_path, workload)), "--target", f"shop/deployment/{workload}",
            "--prometheus", prom.url, "--kubeconfig", str(support.kubeconfig_file(tmp_path, kube.url)),
            "--lock", lock, "--interval", "0.5", "--min-interval", "0", "--api-timeout", "10",
            "--decision-log", str(log_path), "--fsync", "--identity", "sigterm-test"]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        support.wait_until(lambda: log_path.exists() and log_path.read_text().count("\n") >= 1, 30,
                           what="the first decision")
        in_flight = threading.Event()
        kube.add_latency(2.0, method="GET", path=kube.path_pattern("deployments", support.NS, workload, "scale"),
                         where=lambda request: in_flight.set() or True)
        assert in_flight.wait(15), "the controller never read the scale again"
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        out, err = proc.communicate(timeout=20)
        elapsed = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-2000:]
    assert "SIGTERM: stopping after the current step" in err and elapsed < 10
    entries = decision_log.read(str(log_path))          # every line whole and valid JSON
    last = entries[-1]
    assert (last["result"], last["why"]) == ("skipped", "shutting down: not starting a write")
    successes = [e for e in entries if e["result"] == "success"]
    assert successes and support.replicas(kube, workload) == successes[-1]["new_replicas"]
    assert all(r.status is not None for r in kube.requests_matching("PATCH"))
    if backend == "lease":
        lease = kube.get("leases", support.NS, locks.lease_name(TargetRef.parse(f"shop/deployment/{workload}")))
        assert lease["spec"].get("holderIdentity") in (None, "")
    else:
        assert redis_server.client.exists(f"{key}:shop/deployment/{workload}") == 0
