"""``kubernetes.leaderelection`` against the emulator: LeaseLock create/get/update and takeover."""

from __future__ import annotations

import threading
import time

import pytest
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

from tests.kube.kube_support import status_body

NS = "ops"


@pytest.fixture
def default_kube(kube):
    """LeaseLock builds its API from the client library's default configuration."""
    with kube.as_default():
        yield kube


def candidate(identity: str, on_started=lambda: None, on_stopped=None, lease=2):
    lock = LeaseLock("scalelab-controller", NS, identity)
    lock.api_instance.api_client.user_agent = f"candidate-{identity}"
    config = electionconfig.Config(lock, lease_duration=lease, renew_deadline=1.5, retry_period=1,
                                   onstarted_leading=on_started, onstopped_leading=on_stopped)
    return lock, leaderelection.LeaderElection(config)


def test_lease_lock_create_get_and_update_respect_resource_versions(default_kube):
    a, b = LeaseLock("lock", NS, "a"), LeaseLock("lock", NS, "b")
    found, error = a.get("lock", NS)
    assert not found and status_body(error)["code"] == 404
    record = leaderelection.LeaderElectionRecord("a", "10", "2026-01-01 00:00:00", "2026-01-01 00:00:00")
    assert a.create("lock", NS, record)
    assert not b.create("lock", NS, record)                                   # 409 AlreadyExists
    found, seen = b.get("lock", NS)
    assert found and (seen.holder_identity, seen.lease_duration) == ("a", "10")
    record.renew_time = "2026-01-01 00:00:05"
    assert a.update("lock", NS, record)                                       # a's reference is fresh
    assert not b.update("lock", NS, leaderelection.LeaderElectionRecord(      # b's is now stale: 409
        "b", "10", "2026-01-01 00:00:06", "2026-01-01 00:00:06"))
    lease = default_kube.get("leases", NS, "lock")
    assert lease["spec"]["holderIdentity"] == "a"
    assert [(r.method, r.status) for r in default_kube.requests] == [
        ("GET", 404), ("POST", 201), ("POST", 409), ("GET", 200), ("PUT", 200), ("PUT", 409)]


def test_one_of_two_candidates_acquires_and_the_other_takes_over_after_expiry(default_kube):
    _, first = candidate("a")
    _, second = candidate("b")
    assert first.try_acquire_or_renew() is True
    assert second.try_acquire_or_renew() is False                              # held, not expired
    assert first.try_acquire_or_renew() is True                                # renew
    assert second.try_acquire_or_renew() is False                              # observed a renewal
    time.sleep(2.1)                                                            # a stops renewing
    assert second.try_acquire_or_renew() is True
    assert default_kube.get("leases", NS, "scalelab-controller")["spec"]["holderIdentity"] == "b"
    assert first.try_acquire_or_renew() is False


def test_the_leader_loses_the_lease_when_its_api_calls_fail_and_the_follower_takes_over(default_kube):
    a_leading, a_stopped, b_leading, b_stopped = (threading.Event() for _ in range(4))

    def b_started():
        b_leading.set()
        raise RuntimeError("stop leading: end of test")   # ends b's renew loop; run() then returns

    _, a = candidate("a", a_leading.set, a_stopped.set)
    _, b = candidate("b", b_started, b_stopped.set)
    threads = [threading.Thread(target=a.run, daemon=True)]
    threads[0].start()
    assert a_leading.wait(5)
    threads.append(threading.Thread(target=b.run, daemon=True))
    threads[1].start()
    time.sleep(2.5)                                     # longer than the lease: renewals keep it
    assert not b_leading.is_set() and not a_stopped.is_set()
    default_kube.fail_next(None, where=lambda request: request.headers.get("user-agent") == "candidate-a")
    assert a_stopped.wait(6), "the leader kept leading without a lease"
    assert b_leading.wait(6), "the follower never took over"
    lease = default_kube.get("leases", NS, "scalelab-controller")
    assert lease["spec"]["holderIdentity"] == "b"
    assert b_stopped.wait(5)
    for thread in threads:
        thread.join(timeout=5)
        assert not thread.is_alive()
