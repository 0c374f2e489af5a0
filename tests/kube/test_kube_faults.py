"""Fault injection, seen from the official client: 5xx, latency, 409 storms, concurrent writers,
dropped connections, hanging requests; plus the request log and the HTTP admin endpoints."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

import pytest
import urllib3
from kubernetes import client
from kubernetes.client import ApiException

from controller.testing import KubeEmulator
from tests.kube.kube_support import status_body

NS = "shop"
SCALE = KubeEmulator.path_pattern("deployments", NS, "web", "scale")


@pytest.fixture
def web(kube):
    kube.add_deployment(NS, "web", replicas=2)
    kube.clear_requests()
    return kube


def test_next_requests_fail_with_500_only_where_the_rule_matches(web, apps):
    rule = web.fail_next(2, method="GET", path=SCALE)
    apps.read_namespaced_deployment("web", NS)                              # other path: untouched
    apps.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 3}})   # other verb: untouched
    for _ in range(2):
        with pytest.raises(ApiException) as info:
            apps.read_namespaced_deployment_scale("web", NS)
        assert (info.value.status, status_body(info.value)["reason"]) == (500, "InternalError")
    assert apps.read_namespaced_deployment_scale("web", NS).spec.replicas == 3
    assert rule.hits == 2 and web.faults.rules() == []
    assert [(r.method, r.status, r.fault) for r in web.requests] == [
        ("GET", 200, None), ("PATCH", 200, None), ("GET", 500, "error"), ("GET", 500, "error"), ("GET", 200, None)]


def test_a_503_carries_retry_after_which_urllib3_honours(web, apps):
    web.fail_next(1, status=503, retry_after=0)
    assert apps.read_namespaced_deployment_scale("web", NS).spec.replicas == 2     # retried transparently
    assert [(r.status, r.fault) for r in web.requests] == [(503, "error"), (200, None)]
    strict = client.AppsV1Api(web.client(retries=False))
    web.fail_next(1, status=503, retry_after=2, message="etcd leader changed")
    with pytest.raises(ApiException) as info:
        strict.read_namespaced_deployment_scale("web", NS)
    body = status_body(info.value)
    assert (info.value.status, body["reason"], body["message"]) == (503, "ServiceUnavailable", "etcd leader changed")
    assert info.value.headers["Retry-After"] == "2"


def test_latency_fixed_and_per_request(web, apps):
    rule = web.add_latency(0.2, count=1, method="GET")
    started = time.monotonic()
    apps.read_namespaced_deployment_scale("web", NS)
    assert time.monotonic() - started >= 0.2
    started = time.monotonic()
    apps.read_namespaced_deployment_scale("web", NS)
    assert time.monotonic() - started < 0.2 and rule.hits == 1
    web.add_latency(lambda request: 0.15 if request.path.endswith("/scale") else 0.0)
    started = time.monotonic()
    apps.read_namespaced_deployment("web", NS)
    middle = time.monotonic()
    apps.read_namespaced_deployment_scale("web", NS)
    assert middle - started < 0.15 <= time.monotonic() - middle
    assert web.requests[-1].seconds >= 0.15


def test_a_409_storm_rejects_fresh_writes_then_passes(web, apps):
    web.conflict_next(3, path=SCALE)
    before = web.resource_version
    for _ in range(3):
        fresh = apps.read_namespaced_deployment_scale("web", NS)              # reads are not in the storm
        fresh.spec.replicas = 4
        with pytest.raises(ApiException) as info:
            apps.replace_namespaced_deployment_scale("web", NS, fresh)
        body = status_body(info.value)
        assert (info.value.status, body["reason"], body["details"]["name"]) == (409, "Conflict", "web")
    assert web.resource_version == before
    assert apps.replace_namespaced_deployment_scale("web", NS, fresh).spec.replicas == 4


def test_a_concurrent_writer_bumps_the_version_behind_the_clients_back(web, apps):
    web.touch_before_next(1, path=SCALE)
    read = apps.read_namespaced_deployment_scale("web", NS)
    read.spec.replicas = 6
    with pytest.raises(ApiException) as info:                 # the version read is already stale
        apps.replace_namespaced_deployment_scale("web", NS, read)
    assert info.value.status == 409
    web.touch_before_next(1, path=SCALE)
    unconditional = apps.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 6}})
    assert unconditional.spec.replicas == 6                   # a patch without a version still lands
    annotations = web.get("deployments", NS, "web")["metadata"]["annotations"]
    assert annotations == {"emulator.scalelab.dev/touched": "2"}


def test_set_replicas_is_a_concurrent_kubectl_scale(web, apps):
    read = apps.read_namespaced_deployment_scale("web", NS)
    web.set_replicas("deployments", NS, "web", 10)
    read.spec.replicas = 3
    with pytest.raises(ApiException):
        apps.replace_namespaced_deployment_scale("web", NS, read)
    assert apps.read_namespaced_deployment_scale("web", NS).spec.replicas == 10


def test_a_dropped_connection_is_a_urllib3_error(web, apps):
    web.drop_next(1, method="PATCH")
    with pytest.raises(urllib3.exceptions.ProtocolError):          # not idempotent: no retry
        apps.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 3}})
    assert [(r.method, r.status, r.fault) for r in web.requests] == [("PATCH", None, "drop")]
    assert web.get("deployments", NS, "web")["spec"]["replicas"] == 2


def test_urllib3_retries_a_dropped_get_unless_told_not_to(web, apps):
    web.drop_next(1, method="GET")
    assert apps.read_namespaced_deployment_scale("web", NS).spec.replicas == 2
    assert [(r.status, r.fault) for r in web.requests] == [(None, "drop"), (200, None)]
    strict = client.AppsV1Api(web.client(retries=False))
    web.drop_next(1, method="GET")
    with pytest.raises(urllib3.exceptions.ProtocolError):
        strict.read_namespaced_deployment_scale("web", NS)
    web.drop_next(None, method="GET")
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        apps.read_namespaced_deployment_scale("web", NS)


def test_a_hanging_request_outlasts_the_client_timeout(web, apps):
    web.hang_next(None, path=SCALE)
    started = time.monotonic()
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        apps.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 3}}, _request_timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 2
    web.clear_faults()
    assert apps.read_namespaced_deployment_scale("web", NS, _request_timeout=2).spec.replicas == 2


def test_stopping_ends_hanging_requests_promptly():
    kube = KubeEmulator().start()
    kube.add_deployment(NS, "web")
    kube.hang_next(None)
    api = client.AppsV1Api(kube.client(retries=False))
    caught = []
    thread = threading.Thread(target=lambda: caught.append(_capture(api.read_namespaced_deployment, "web", NS)))
    thread.start()
    deadline = time.monotonic() + 5
    while not kube.faults.rules()[0].hits and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    kube.stop()
    thread.join(timeout=5)
    assert time.monotonic() - started < 2 and not thread.is_alive()
    assert isinstance(caught[0], urllib3.exceptions.HTTPError)


def _capture(call, *args):
    try:
        call(*args)
    except Exception as exc:
        return exc
    return None


def test_the_request_log_is_complete_under_concurrency(web):
    def reader():
        api = client.AppsV1Api(web.client())
        for _ in range(25):
            api.read_namespaced_deployment_scale("web", NS)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert len(web.requests_matching("GET", SCALE)) == 100
    web.clear_requests()
    assert web.requests == []


def test_request_log_records_bodies(web, apps):
    apps.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 4}})
    record = web.requests[-1]
    assert (record.method, record.path, record.status) == ("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web/scale", 200)
    assert record.body == {"spec": {"replicas": 4}}
    assert record.response["spec"] == {"replicas": 4}


def _admin(kube, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(kube.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=5) as response:
        return response.status, json.loads(response.read())


def test_faults_and_the_log_over_http_admin_endpoints(web, apps):
    status, rule = _admin(web, "POST", "/__emulator/faults",
                          {"action": "error", "count": 1, "status": 503, "method": "GET", "path": "/scale$"})
    assert status == 201 and rule["action"] == "error"
    assert [r["id"] for r in _admin(web, "GET", "/__emulator/faults")[1]["items"]] == [rule["id"]]
    with pytest.raises(ApiException) as info:
        apps.read_namespaced_deployment_scale("web", NS)
    assert info.value.status == 503
    _admin(web, "POST", "/__emulator/faults", {"action": "conflict", "count": 5})
    _admin(web, "DELETE", "/__emulator/faults")
    assert apps.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 3}}).spec.replicas == 3
    log = _admin(web, "GET", "/__emulator/requests")[1]["items"]
    assert [(r["method"], r["status"], r["fault"]) for r in log] == [("GET", 503, "error"), ("PATCH", 200, None)]
    state = _admin(web, "GET", "/__emulator/state")[1]
    assert [(o["kind"], o["metadata"]["name"], o["spec"]["replicas"]) for o in state["items"]] == [("Deployment", "web", 3)]
    _admin(web, "DELETE", "/__emulator/requests")
    assert web.requests == []
