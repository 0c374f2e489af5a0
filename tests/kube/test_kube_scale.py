"""The ``scale`` subresource through the official client: reads, writes, conflicts, races, rollout."""

from __future__ import annotations

import threading
import time

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from controller.testing import KubeEmulator
from tests.kube.kube_support import status_body

NS = "shop"
SCALE_API = {
    "deployments": ("read_namespaced_deployment_scale", "replace_namespaced_deployment_scale",
                    "patch_namespaced_deployment_scale"),
    "statefulsets": ("read_namespaced_stateful_set_scale", "replace_namespaced_stateful_set_scale",
                     "patch_namespaced_stateful_set_scale"),
}


def seed(kube, kind, name="web", replicas=2, labels=None):
    add = kube.add_deployment if kind == "deployments" else kube.add_statefulset
    return add(NS, name, replicas, labels)


@pytest.fixture(params=sorted(SCALE_API))
def kind(request):
    return request.param


def test_scale_reads_as_an_autoscaling_v1_scale(kube, apps, kind):
    owner = seed(kube, kind, labels={"app": "web", "tier": "front"})
    read, _, _ = SCALE_API[kind]
    scale = getattr(apps, read)("web", NS)
    assert (scale.kind, scale.api_version) == ("Scale", "autoscaling/v1")
    assert (scale.metadata.name, scale.metadata.namespace) == ("web", NS)
    assert (scale.metadata.uid, scale.metadata.resource_version) == (owner["metadata"]["uid"],
                                                                     owner["metadata"]["resourceVersion"])
    assert (scale.spec.replicas, scale.status.replicas, scale.status.selector) == (2, 2, "app=web,tier=front")


def test_writing_the_scale_updates_the_owner(kube, apps, kind):
    seed(kube, kind)
    read, replace, patch = SCALE_API[kind]
    scale = getattr(apps, read)("web", NS)
    scale.spec.replicas = 5
    replaced = getattr(apps, replace)("web", NS, scale)
    assert int(replaced.metadata.resource_version) == int(scale.metadata.resource_version) + 1
    owner = kube.get(kind, NS, "web")
    assert (owner["spec"]["replicas"], owner["metadata"]["generation"], owner["status"]["replicas"]) == (5, 2, 5)
    assert owner["metadata"]["resourceVersion"] == replaced.metadata.resource_version

    merged = getattr(apps, patch)("web", NS, {"spec": {"replicas": 7}})
    assert kube.requests[-1].content_type == "application/strategic-merge-patch+json"
    json_patched = getattr(apps, patch)("web", NS, [{"op": "replace", "path": "/spec/replicas", "value": 1}])
    assert (merged.spec.replicas, json_patched.spec.replicas, json_patched.status.replicas) == (7, 1, 1)
    merge = getattr(apps, patch)("web", NS, {"spec": {"replicas": 0}}, _content_type="application/merge-patch+json")
    assert (merge.spec.replicas, merge.status.replicas) == (None, 0)         # Go omitempty: 0 is left out
    assert kube.get(kind, NS, "web")["metadata"]["generation"] == 5


def test_stale_scale_writes_conflict(kube, apps, kind):
    seed(kube, kind)
    read, replace, patch = SCALE_API[kind]
    stale = getattr(apps, read)("web", NS)
    getattr(apps, patch)("web", NS, {"spec": {"replicas": 3}})
    stale.spec.replicas = 9
    with pytest.raises(ApiException) as info:
        getattr(apps, replace)("web", NS, stale)
    body = status_body(info.value)
    assert (info.value.status, body["reason"], body["details"]["kind"]) == (409, "Conflict", kind)
    with pytest.raises(ApiException) as info:
        getattr(apps, patch)("web", NS, {"metadata": {"resourceVersion": stale.metadata.resource_version},
                                         "spec": {"replicas": 9}})
    assert info.value.status == 409
    assert kube.get(kind, NS, "web")["spec"]["replicas"] == 3


def test_same_replicas_is_not_a_write(kube, apps):
    seed(kube, "deployments", replicas=4)
    before = kube.resource_version
    scale = apps.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 4}})
    assert int(scale.metadata.resource_version) == before == kube.resource_version


def _increment(api, deadline: float, counts: dict) -> None:
    """Read-modify-write the scale with the read resourceVersion; retry on 409."""
    while time.monotonic() < deadline:
        scale = api.read_namespaced_deployment_scale("web", NS)
        scale.spec.replicas = (scale.spec.replicas or 0) + 1
        try:
            api.replace_namespaced_deployment_scale("web", NS, scale)
            counts["ok"] += 1
            return
        except ApiException as exc:
            assert exc.status == 409, exc
            counts["conflicts"] += 1
    raise AssertionError("increment did not converge")


def _increment_with_json_patch_test(api, deadline: float, counts: dict) -> None:
    """The same through a JSON patch whose ``test`` op makes it conditional (422 when lost)."""
    while time.monotonic() < deadline:
        seen = api.read_namespaced_deployment_scale("web", NS).spec.replicas or 0
        try:
            api.patch_namespaced_deployment_scale("web", NS, [
                {"op": "test", "path": "/spec/replicas", "value": seen},
                {"op": "replace", "path": "/spec/replicas", "value": seen + 1}])
            counts["ok"] += 1
            return
        except ApiException as exc:
            assert exc.status == 422, exc
            counts["conflicts"] += 1
    raise AssertionError("increment did not converge")


@pytest.mark.parametrize("increment", [_increment, _increment_with_json_patch_test], ids=["put-rv", "json-patch-test"])
def test_racing_read_modify_write_loses_no_update(kube, increment):
    seed(kube, "deployments", replicas=2)
    start_rv = kube.resource_version
    deadline = time.monotonic() + 20
    results = []
    errors = []

    def worker():
        api = client.AppsV1Api(kube.client())
        counts = {"ok": 0, "conflicts": 0}
        try:
            for _ in range(50):
                increment(api, deadline, counts)
        except BaseException as exc:      # surfaced below
            errors.append(exc)
        results.append(counts)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=25)
    assert errors == []
    assert [r["ok"] for r in results] == [50, 50]
    assert kube.get("deployments", NS, "web")["spec"]["replicas"] == 102
    assert kube.resource_version == start_rv + 100                  # one write per increment, none lost


def test_status_follows_spec_after_the_rollout_delay():
    clock = [1000.0]
    with KubeEmulator(rollout_delay=30, clock=lambda: clock[0]) as kube:
        kube.add_deployment(NS, "web", replicas=2)
        apps = client.AppsV1Api(kube.client())
        assert apps.read_namespaced_deployment_scale("web", NS).status.replicas == 0     # not rolled out yet
        clock[0] += 30
        ready = apps.read_namespaced_deployment_scale("web", NS)
        assert (ready.spec.replicas, ready.status.replicas) == (2, 2)
        written = apps.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 5}})
        assert (written.spec.replicas, written.status.replicas) == (5, 2)
        clock[0] += 29
        assert apps.read_namespaced_deployment_scale("web", NS).status.replicas == 2
        clock[0] += 1
        settled = apps.read_namespaced_deployment_scale("web", NS)
        assert settled.status.replicas == 5
        assert int(settled.metadata.resource_version) == int(written.metadata.resource_version) + 1
        deployment = apps.read_namespaced_deployment("web", NS)
        assert (deployment.status.ready_replicas, deployment.status.observed_generation) == (5, 2)
