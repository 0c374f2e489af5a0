"""Two controller replicas on one target: the Lease (emulator) and Redis (real redis-server) locks.
Exactly one acts per change; a lost lock stops acting within one tick; locks are released."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid

import pytest
import redis as redis_lib

from controller import config, decision_log, locks
from controller.config import TargetRef
from tests.controller import support


@pytest.fixture(params=["lease", "redis"])
def backend(request):
    return request.param


def lock_flag(backend: str, redis_server=None) -> str:
    return "lease" if backend == "lease" else f"{redis_server.url}/scalelab-test-{uuid.uuid4().hex[:8]}"


def make(kube, prom, tmp_path, workload, identity, lock, redis_server=None, **options):
    sink = decision_log.MemoryLog()
    client = redis_lib.Redis(port=redis_server.port) if redis_server is not None and lock.startswith("redis") else None
    s = support.settings(tmp_path, prom.url, workload, lock=lock, identity=identity, **options)
    return support.controller(kube, s, sink=sink, redis_client=client), sink


def holder(kube, backend, redis_server, c) -> str | None:
    rt = c.targets[0]
    if backend == "lease":
        lease = kube.get("leases", support.NS, locks.lease_name(rt.ref))
        return (lease or {}).get("spec", {}).get("holderIdentity") or None
    value = redis_server.client.get(rt.lock.name)
    return value.decode().rsplit(":", 1)[0] if value else None


def steal(kube, backend, redis_server, c, who="intruder") -> None:
    rt = c.targets[0]
    if backend == "lease":
        now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        kube.update("leases", support.NS, locks.lease_name(rt.ref),
                    lambda lease: lease["spec"].update(holderIdentity=who, renewTime=now, leaseDurationSeconds=60))
    else:
        redis_server.client.set(rt.lock.name, f"{who}:{uuid.uuid4().hex}", px=60_000)


@pytest.fixture
def spiking(prom, live_metrics, workload):
    live_metrics.set(workload, support.SPIKE)
    support.wait_scraped(prom.url, workload, support.SPIKE)
    return workload


def test_two_replicas_racing_exactly_one_acts_per_change(backend, kube, prom, tmp_path, spiking, redis_server):
    lock = lock_flag(backend, redis_server)
    winners = []
    for trial in range(20):
        kube.set_replicas("deployments", support.NS, spiking, 4)
        pair = [make(kube, prom, tmp_path, spiking, f"replica-{i}", lock, redis_server) for i in "ab"]
        barrier = threading.Barrier(2)

        def go(c):
            barrier.wait()
            c.run_once()

        threads = [threading.Thread(target=go, args=(c,)) for c, _ in pair]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        entries = [e for _, sink in pair for e in sink.entries]
        acted = [e for e in entries if e["result"] == "success"]
        skipped = [e for e in entries if e["result"] == "skipped"]
        assert len(acted) == 1 and len(skipped) == 1, (trial, entries)
        assert acted[0]["new_replicas"] == 6 and support.replicas(kube, spiking) == 6, trial
        assert skipped[0]["why"].startswith("lock not held (holder: replica-")
        winners.append(acted[0]["identity"])
        for c, _ in pair:
            c.close()
        assert holder(kube, backend, redis_server, pair[0][0]) is None      # released
    assert len(kube.requests_matching("PATCH", r"/scale$")) == 20          # one write per change, never two


def test_a_stolen_lock_stops_acting_at_the_next_tick(backend, kube, prom, tmp_path, spiking, redis_server):
    c, sink = make(kube, prom, tmp_path, spiking, "owner", lock_flag(backend, redis_server), redis_server)
    c.run_once()
    assert support.replicas(kube, spiking) == 6 and holder(kube, backend, redis_server, c) == "owner"
    steal(kube, backend, redis_server, c)
    c.run_once()
    c.run_once()
    c.close()
    assert support.results(sink.entries) == [("up", "success", 4, 6), ("hold", "skipped", None, None)]
    assert sink.entries[1]["why"].startswith("lock not held (holder: intruder)")   # repeated skips logged once
    assert support.replicas(kube, spiking) == 6
    assert c.telemetry.sample("autoscaler_lock_held", {"target": f"shop/deployment/{spiking}"}) == 0.0
    assert c.telemetry.sample("autoscaler_decisions_total", {"target": f"shop/deployment/{spiking}",
                                                             "action": "hold", "status": "skipped"}) == 2.0
    assert holder(kube, backend, redis_server, c) == "intruder"      # closing does not release what it lost


def test_a_lock_lost_in_the_middle_of_a_tick_is_caught_before_the_write(backend, kube, prom, tmp_path, spiking,
                                                                        redis_server):
    c, sink = make(kube, prom, tmp_path, spiking, "owner", lock_flag(backend, redis_server), redis_server)
    c.run_once()                       # holds the lock, 4 -> 6
    # the lock is stolen while the controller reads the scale (after it renewed the lock this tick)
    kube.add_latency(0, count=1, method="GET", path=kube.path_pattern("deployments", support.NS, spiking, "scale"),
                     where=lambda request: steal(kube, backend, redis_server, c) or True)
    c.run_once()
    c.close()
    assert support.results(sink.entries) == [("up", "success", 4, 6), ("up", "skipped", 6, 6)]
    assert sink.entries[1]["why"] == "lock lost before the write (holder now: intruder)"
    assert sink.entries[1]["state"] == "discarded" and support.replicas(kube, spiking) == 6


def test_a_deleted_lock_is_taken_by_the_other_replica_and_the_first_stops(backend, kube, prom, tmp_path, spiking,
                                                                          redis_server):
    lock = lock_flag(backend, redis_server)
    a, sink_a = make(kube, prom, tmp_path, spiking, "replica-a", lock, redis_server)
    b, sink_b = make(kube, prom, tmp_path, spiking, "replica-b", lock, redis_server)
    a.run_once()
    b.run_once()
    if backend == "lease":
        from kubernetes import client

        client.CoordinationV1Api(kube.client()).delete_namespaced_lease(locks.lease_name(a.targets[0].ref),
                                                                        support.NS)
    else:
        redis_server.client.delete(a.targets[0].lock.name)
    b.run_once()                       # b takes the free lock and acts (6 -> 8)
    a.run_once()                       # a notices at its next tick
    a.close()
    b.close()
    assert support.results(sink_a.entries) == [("up", "success", 4, 6), ("hold", "skipped", None, None)]
    assert support.results(sink_b.entries) == [("hold", "skipped", None, None), ("up", "success", 6, 8)]
    assert sink_b.entries[1]["reset"] == "start" and support.replicas(kube, spiking) == 8


def test_an_expired_lock_of_a_dead_replica_is_taken_over_after_its_ttl(backend, kube, prom, tmp_path, spiking,
                                                                       redis_server):
    lock = lock_flag(backend, redis_server)
    a, _ = make(kube, prom, tmp_path, spiking, "dead", lock, redis_server, lock_ttl=1.0, lock_renew=0.5)
    b, sink_b = make(kube, prom, tmp_path, spiking, "alive", lock, redis_server, lock_ttl=1.0, lock_renew=0.5)
    a.run_once()                       # acquires, then "dies" without releasing
    b.run_once()
    assert sink_b.entries[-1]["why"] == "lock not held (holder: dead)"
    time.sleep(1.1)
    b.run_once()
    b.close()
    assert support.results(sink_b.entries)[-1] == ("up", "success", 6, 8)
    if backend == "lease":
        lease = kube.get("leases", support.NS, locks.lease_name(b.targets[0].ref))
        assert lease["spec"].get("leaseTransitions") == 1


def test_the_heartbeat_keeps_the_lock_between_slow_loops_and_shutdown_releases_it(backend, kube, prom, tmp_path,
                                                                                  spiking, redis_server):
    lock = lock_flag(backend, redis_server)
    a, _ = make(kube, prom, tmp_path, spiking, "leader", lock, redis_server, lock_ttl=1.0, lock_renew=0.2,
                interval=30.0)
    b, sink_b = make(kube, prom, tmp_path, spiking, "follower", lock, redis_server, lock_ttl=1.0, lock_renew=0.2)
    runner = threading.Thread(target=a.run)
    runner.start()
    support.wait_until(lambda: a.loops >= 1, 10, what="the first loop")
    time.sleep(1.6)                    # longer than the TTL; the heartbeat renews it
    b.run_once()
    assert sink_b.entries[-1]["why"] == "lock not held (holder: leader)"
    a.stop()
    runner.join(timeout=10)
    assert not runner.is_alive() and holder(kube, backend, redis_server, a) is None
    b.run_once()
    b.close()
    assert sink_b.entries[-1]["result"] == "success"


def test_lock_protocol_units_never_raise_when_the_backend_is_gone():
    spec = config.LockSpec.parse(f"redis://127.0.0.1:{support.free_port()}/k")
    lock = locks.RedisLock(locks.redis_client(spec, timeout=0.2), "k", "me", 1.0)
    assert (lock.acquire(), lock.confirm(), lock.held) == (False, False, False)
    assert "ConnectionError" in lock.error
    lock.release()
    none = locks.NoLock()
    assert none.acquire() and none.confirm() and none.held
    assert locks.lease_name(TargetRef.parse("shop/sts/db")) == "scalelab-statefulset-db"
