"""The emulator's objects through the official client: every verb, resourceVersion rules, errors."""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from tests.kube.kube_support import deployment, raw_bytes, raw_call, status_body

NS = "shop"


def rv(obj) -> int:
    return int(obj.metadata.resource_version)


# --- Deployments -------------------------------------------------------------------------------

def test_create_fills_server_fields_and_status_follows_spec(kube, apps):
    before = kube.resource_version
    created = apps.create_namespaced_deployment(NS, deployment("web", replicas=3))
    assert created.metadata.uid and created.metadata.creation_timestamp is not None
    assert created.metadata.generation == 1
    assert rv(created) == before + 1
    assert created.metadata.namespace == NS
    assert (created.status.replicas, created.status.ready_replicas, created.status.observed_generation) == (3, 3, 1)
    assert apps.read_namespaced_deployment("web", NS) == created


def test_replace_bumps_resource_version_and_generation_only_on_spec_change(kube, apps):
    kube.add_deployment(NS, "web", replicas=2)
    current = apps.read_namespaced_deployment("web", NS)
    current.metadata.labels["team"] = "checkout"
    relabelled = apps.replace_namespaced_deployment("web", NS, current)
    assert rv(relabelled) == rv(current) + 1
    assert relabelled.metadata.generation == 1                  # metadata change: same generation
    relabelled.spec.replicas = 4
    scaled = apps.replace_namespaced_deployment("web", NS, relabelled)
    assert rv(scaled) == rv(relabelled) + 1
    assert (scaled.metadata.generation, scaled.spec.replicas, scaled.status.replicas) == (2, 4, 4)


def test_replace_with_stale_resource_version_conflicts_and_changes_nothing(kube, apps):
    kube.add_deployment(NS, "web", replicas=2)
    first = apps.read_namespaced_deployment("web", NS)
    second = apps.read_namespaced_deployment("web", NS)
    first.spec.replicas = 5
    apps.replace_namespaced_deployment("web", NS, first)
    second.spec.replicas = 7
    with pytest.raises(ApiException) as info:
        apps.replace_namespaced_deployment("web", NS, second)
    assert info.value.status == 409
    body = status_body(info.value)
    assert (body["kind"], body["status"], body["reason"], body["code"]) == ("Status", "Failure", "Conflict", 409)
    assert body["message"] == ('Operation cannot be fulfilled on deployments.apps "web": the object has been '
                               "modified; please apply your changes to the latest version and try again")
    assert kube.get("deployments", NS, "web")["spec"]["replicas"] == 5


def test_replace_without_resource_version_is_unconditional(kube, apps):
    kube.add_deployment(NS, "web", replicas=2)
    body = apps.read_namespaced_deployment("web", NS)
    kube.touch("deployments", NS, "web")
    body.metadata.resource_version = None
    body.spec.replicas = 6
    assert apps.replace_namespaced_deployment("web", NS, body).spec.replicas == 6


def test_a_no_op_update_is_not_a_write(kube, apps):
    kube.add_deployment(NS, "web", replicas=2)
    current = apps.read_namespaced_deployment("web", NS)
    again = apps.replace_namespaced_deployment("web", NS, current)
    patched = apps.patch_namespaced_deployment("web", NS, {"spec": {"replicas": 2}})
    assert rv(again) == rv(patched) == rv(current)
    assert kube.resource_version == rv(current)


def test_list_filters_by_label_and_field_selectors_and_across_namespaces(kube, apps):
    kube.add_deployment(NS, "web", labels={"app": "web", "tier": "front"})
    kube.add_deployment(NS, "api", labels={"app": "api", "tier": "back"})
    kube.add_deployment("other", "web", labels={"app": "web", "tier": "front"})

    def names(items):
        return [(d.metadata.namespace, d.metadata.name) for d in items.items]

    assert names(apps.list_namespaced_deployment(NS)) == [(NS, "api"), (NS, "web")]
    assert names(apps.list_namespaced_deployment(NS, label_selector="tier=front")) == [(NS, "web")]
    assert names(apps.list_namespaced_deployment(NS, label_selector="tier in (front,back),app!=web")) == [(NS, "api")]
    assert names(apps.list_namespaced_deployment(NS, label_selector="!tier")) == []
    assert names(apps.list_namespaced_deployment(NS, field_selector="metadata.name=api")) == [(NS, "api")]
    assert names(apps.list_deployment_for_all_namespaces(label_selector="app=web")) == [("other", "web"), (NS, "web")]
    listing = apps.list_namespaced_deployment(NS)
    assert (listing.kind, int(listing.metadata.resource_version)) == ("DeploymentList", kube.resource_version)


def test_merge_patch_sets_and_deletes_keys(kube, apps):
    kube.add_deployment(NS, "web", labels={"app": "web", "old": "yes"})
    patched = apps.patch_namespaced_deployment("web", NS, {"metadata": {"labels": {"old": None, "new": "1"}}},
                                               _content_type="application/merge-patch+json")
    assert patched.metadata.labels == {"app": "web", "new": "1"}
    assert kube.requests[-1].content_type == "application/merge-patch+json"


def test_strategic_merge_patch_merges_containers_by_name(kube, apps):
    kube.add_deployment(NS, "web")
    apps.patch_namespaced_deployment("web", NS, {"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "image": "envoy"}]}}}})
    patched = apps.patch_namespaced_deployment("web", NS, {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "app:2"}]}}}})
    assert kube.requests[-1].content_type == "application/strategic-merge-patch+json"   # the client's default
    assert [(c.name, c.image) for c in patched.spec.template.spec.containers] == [("app", "app:2"), ("sidecar", "envoy")]


def test_json_patch_applies_all_operations_or_none(kube, apps):
    kube.add_deployment(NS, "web", replicas=2)
    patched = apps.patch_namespaced_deployment("web", NS, [
        {"op": "test", "path": "/spec/replicas", "value": 2},
        {"op": "replace", "path": "/spec/replicas", "value": 3},
        {"op": "add", "path": "/metadata/annotations", "value": {"a/b": "x"}},
        {"op": "add", "path": "/metadata/labels/tier", "value": "front"},
        {"op": "remove", "path": "/metadata/annotations/a~1b"}])
    assert kube.requests[-1].content_type == "application/json-patch+json"
    assert (patched.spec.replicas, patched.metadata.labels, patched.metadata.annotations) == \
        (3, {"app": "web", "tier": "front"}, None)
    before = kube.get("deployments", NS, "web")
    with pytest.raises(ApiException) as info:
        apps.patch_namespaced_deployment("web", NS, [
            {"op": "replace", "path": "/spec/replicas", "value": 9},
            {"op": "test", "path": "/spec/replicas", "value": 2}])
    assert (info.value.status, status_body(info.value)["reason"]) == (422, "Invalid")
    assert kube.get("deployments", NS, "web") == before


def test_patch_carrying_a_stale_resource_version_conflicts(kube, apps):
    kube.add_deployment(NS, "web")
    old = apps.read_namespaced_deployment("web", NS).metadata.resource_version
    kube.touch("deployments", NS, "web")
    with pytest.raises(ApiException) as info:
        apps.patch_namespaced_deployment("web", NS, {"metadata": {"resourceVersion": old}, "spec": {"replicas": 4}})
    assert (info.value.status, status_body(info.value)["reason"]) == (409, "Conflict")


def test_delete_answers_success_status_then_not_found(kube, apps):
    kube.add_deployment(NS, "web")
    uid = kube.get("deployments", NS, "web")["metadata"]["uid"]
    before = kube.resource_version
    result = apps.delete_namespaced_deployment("web", NS)
    assert result["status"] == "Success"
    assert result["details"] == {"name": "web", "group": "apps", "kind": "deployments", "uid": uid}
    assert kube.resource_version == before + 1
    assert kube.get("deployments", NS, "web") is None
    with pytest.raises(ApiException) as info:
        apps.delete_namespaced_deployment("web", NS)
    assert info.value.status == 404


def test_delete_with_a_stale_precondition_conflicts(kube, apps):
    kube.add_deployment(NS, "web")
    old = kube.get("deployments", NS, "web")["metadata"]["resourceVersion"]
    kube.touch("deployments", NS, "web")
    with pytest.raises(ApiException) as info:
        apps.delete_namespaced_deployment("web", NS, body=client.V1DeleteOptions(
            preconditions=client.V1Preconditions(resource_version=old)))
    assert info.value.status == 409
    assert kube.get("deployments", NS, "web") is not None


def test_dry_run_writes_nothing(kube, apps):
    kube.add_deployment(NS, "web", replicas=2)
    before = kube.resource_version
    assert apps.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 8}}, dry_run="All").spec.replicas == 8
    apps.create_namespaced_deployment(NS, deployment("api"), dry_run="All")
    apps.delete_namespaced_deployment("web", NS, dry_run="All")
    assert kube.resource_version == before
    assert kube.get("deployments", NS, "web")["spec"]["replicas"] == 2
    assert kube.get("deployments", NS, "api") is None


# --- StatefulSets ------------------------------------------------------------------------------

def test_statefulset_every_verb(kube, apps):
    sts = client.V1StatefulSet(metadata=client.V1ObjectMeta(name="db", labels={"app": "db"}), spec=client.V1StatefulSetSpec(
        replicas=1, service_name="db", selector=client.V1LabelSelector(match_labels={"app": "db"}),
        template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels={"app": "db"}),
                                          spec=client.V1PodSpec(containers=[client.V1Container(name="db", image="pg")]))))
    created = apps.create_namespaced_stateful_set(NS, sts)
    assert (created.kind, created.metadata.generation, created.status.replicas) == ("StatefulSet", 1, 1)
    with pytest.raises(ApiException) as info:
        apps.create_namespaced_stateful_set(NS, sts)
    assert (info.value.status, status_body(info.value)["reason"]) == (409, "AlreadyExists")
    assert [s.metadata.name for s in apps.list_namespaced_stateful_set(NS, label_selector="app=db").items] == ["db"]
    created.spec.replicas = 3
    replaced = apps.replace_namespaced_stateful_set("db", NS, created)
    assert (replaced.spec.replicas, replaced.metadata.generation, rv(replaced)) == (3, 2, rv(created) + 1)
    patched = apps.patch_namespaced_stateful_set("db", NS, {"metadata": {"labels": {"role": "primary"}}})
    assert apps.read_namespaced_stateful_set("db", NS) == patched
    assert apps.delete_namespaced_stateful_set("db", NS)["status"] == "Success"
    assert apps.list_namespaced_stateful_set(NS).items == []


def test_status_subresource_writes_only_status(kube, apps):
    kube.add_deployment(NS, "web", replicas=2)
    current = apps.read_namespaced_deployment_status("web", NS)
    current.spec.replicas = 9
    current.status.ready_replicas = 1
    written = apps.replace_namespaced_deployment_status("web", NS, current)
    assert (written.spec.replicas, written.status.ready_replicas, written.metadata.generation) == (2, 1, 1)


# --- ConfigMaps, Leases, Events ----------------------------------------------------------------

def test_configmap_every_verb_with_resource_version_rules(kube, core):
    created = core.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cfg"),
                                                                       data={"a": "1"}))
    assert created.metadata.generation is None
    with pytest.raises(ApiException) as info:
        core.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cfg")))
    assert (info.value.status, status_body(info.value)["reason"]) == (409, "AlreadyExists")
    created.data["b"] = "2"
    replaced = core.replace_namespaced_config_map("cfg", NS, created)
    assert (replaced.data, rv(replaced)) == ({"a": "1", "b": "2"}, rv(created) + 1)
    with pytest.raises(ApiException) as info:
        core.replace_namespaced_config_map("cfg", NS, created)                 # stale now
    assert info.value.status == 409
    patched = core.patch_namespaced_config_map("cfg", NS, {"data": {"a": None}})
    assert patched.data == {"b": "2"}
    assert [c.metadata.name for c in core.list_namespaced_config_map(NS, field_selector="metadata.name=cfg").items] == ["cfg"]
    core.delete_namespaced_config_map("cfg", NS)
    with pytest.raises(ApiException) as info:
        core.read_namespaced_config_map("cfg", NS)
    assert status_body(info.value)["message"] == 'configmaps "cfg" not found'


def test_lease_every_verb_with_resource_version_rules(kube, coord):
    spec = client.V1LeaseSpec(holder_identity="a", lease_duration_seconds=10)
    created = coord.create_namespaced_lease("ops", client.V1Lease(metadata=client.V1ObjectMeta(name="lock"), spec=spec))
    assert coord.read_namespaced_lease("lock", "ops").spec.holder_identity == "a"
    created.spec.holder_identity = "b"
    replaced = coord.replace_namespaced_lease("lock", "ops", created)
    assert rv(replaced) == rv(created) + 1
    created.spec.holder_identity = "c"
    with pytest.raises(ApiException) as info:
        coord.replace_namespaced_lease("lock", "ops", created)
    assert (info.value.status, status_body(info.value)["details"]["group"]) == (409, "coordination.k8s.io")
    assert coord.patch_namespaced_lease("lock", "ops", {"spec": {"leaseDurationSeconds": 5}}).spec.lease_duration_seconds == 5
    assert [x.metadata.name for x in coord.list_namespaced_lease("ops").items] == ["lock"]
    coord.delete_namespaced_lease("lock", "ops")
    assert coord.list_namespaced_lease("ops").items == []


def test_events_are_posted_and_listed_through_both_apis(kube, core):
    involved = client.V1ObjectReference(kind="Deployment", namespace=NS, name="web")
    core.create_namespaced_event(NS, client.CoreV1Event(
        metadata=client.V1ObjectMeta(generate_name="web."), involved_object=involved,
        reason="Scaled", message="2 -> 3", type="Normal"))
    events_v1 = client.EventsV1Api(kube.client())
    from datetime import datetime, timezone
    events_v1.create_namespaced_event(NS, client.EventsV1Event(
        metadata=client.V1ObjectMeta(name="web.2"), event_time=datetime.now(timezone.utc), reason="Scaled",
        action="Scale", regarding=involved, note="3 -> 4", type="Normal", reporting_controller="scalelab",
        reporting_instance="scalelab-0"))
    listed = core.list_namespaced_event(NS, field_selector="involvedObject.name=web,reason=Scaled").items
    assert [(e.metadata.name.startswith("web."), e.message) for e in listed] == [(True, "2 -> 3")]
    assert [e.note for e in events_v1.list_namespaced_event(NS).items] == ["3 -> 4"]
    assert [e.get("message") or e.get("note") for e in kube.events(NS)] == ["2 -> 3", "3 -> 4"]


# --- errors ------------------------------------------------------------------------------------

def _seed(kube):
    kube.add_deployment(NS, "web", replicas=2)


ERRORS = {
    "read-missing": (lambda k, a: a.read_namespaced_deployment("nope", NS), 404, "NotFound",
                     'deployments.apps "nope" not found'),
    "replace-missing": (lambda k, a: a.replace_namespaced_deployment("nope", NS, deployment("nope")), 404,
                        "NotFound", 'deployments.apps "nope" not found'),
    "scale-missing": (lambda k, a: a.read_namespaced_stateful_set_scale("nope", NS), 404, "NotFound",
                      'statefulsets.apps "nope" not found'),
    "create-existing": (lambda k, a: a.create_namespaced_deployment(NS, deployment("web")), 409, "AlreadyExists",
                        'deployments.apps "web" already exists'),
    "negative-replicas": (lambda k, a: a.patch_namespaced_deployment("web", NS, {"spec": {"replicas": -1}}), 422,
                          "Invalid", 'Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: '
                          "must be greater than or equal to 0"),
    "negative-scale": (lambda k, a: a.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": -1}}), 422,
                       "Invalid", 'Scale.autoscaling "web" is invalid: spec.replicas: Invalid value: -1: '
                       "must be greater than or equal to 0"),
    "selector-immutable": (lambda k, a: a.patch_namespaced_deployment(
        "web", NS, {"spec": {"selector": {"matchLabels": {"app": "other"}}}}), 422, "Invalid", "field is immutable"),
    "no-selector": (lambda k, a: raw_call(a.api_client, "POST", f"/apis/apps/v1/namespaces/{NS}/deployments",
                                          {"metadata": {"name": "bare"}, "spec": {"replicas": 1}}),
                    422, "Invalid", "spec.selector: Required value"),
    "bad-name": (lambda k, a: a.create_namespaced_deployment(NS, deployment("Web_1")), 422, "Invalid",
                 'metadata.name: Invalid value: "Web_1"'),
    "malformed-json": (lambda k, a: raw_bytes(a.api_client, "POST", f"/apis/apps/v1/namespaces/{NS}/deployments",
                                              b'{"metadata": '), 400, "BadRequest", "error decoding request body"),
    "name-mismatch": (lambda k, a: a.replace_namespaced_deployment("web", NS, deployment("api")), 400, "BadRequest",
                      "the name of the object (api) does not match the name on the URL (web)"),
    "bad-selector": (lambda k, a: a.list_namespaced_deployment(NS, label_selector="app in (web"), 400, "BadRequest",
                     "unable to parse requirement"),
    "unsupported-patch": (lambda k, a: a.patch_namespaced_deployment(
        "web", NS, {"spec": {}}, _content_type="application/apply-patch+yaml"), 415, "UnsupportedMediaType",
        "the body of the request was in an unknown format"),
    "unknown-resource": (lambda k, a: raw_call(a.api_client, "GET", f"/apis/apps/v1/namespaces/{NS}/daemonsets"),
                         404, "NotFound", "the server could not find the requested resource"),
    "no-delete-on-scale": (lambda k, a: raw_call(a.api_client, "DELETE",
                                                 f"/apis/apps/v1/namespaces/{NS}/deployments/web/scale"),
                           405, "MethodNotAllowed", "does not allow this method"),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_errors_are_status_objects(kube, apps, name):
    call, code, reason, message = ERRORS[name]
    _seed(kube)
    before = kube.resource_version
    with pytest.raises(ApiException) as info:
        call(kube, apps)
    body = status_body(info.value)
    assert (info.value.status, body["code"], body["reason"], body["kind"], body["status"]) == \
        (code, code, reason, "Status", "Failure")
    assert message in body["message"]
    assert kube.resource_version == before


# --- discovery -----------------------------------------------------------------------------------

def test_discovery_documents_parse_in_the_client(kube):
    api_client = kube.client()
    assert client.VersionApi(api_client).get_code().git_version.startswith("v1.37")
    assert client.CoreApi(api_client).get_api_versions().versions == ["v1"]
    groups = {g.name: g.preferred_version.group_version for g in client.ApisApi(api_client).get_api_versions().groups}
    assert groups == {"apps": "apps/v1", "coordination.k8s.io": "coordination.k8s.io/v1",
                      "events.k8s.io": "events.k8s.io/v1"}
    resources = {r.name: r.kind for r in client.AppsV1Api(api_client).get_api_resources().resources}
    assert resources["deployments/scale"] == "Scale" and resources["statefulsets"] == "StatefulSet"
    assert {r.name for r in client.CoreV1Api(api_client).get_api_resources().resources} == {"configmaps", "events"}
    assert client.AppsApi(api_client).get_api_group().name == "apps"
    response = api_client.call_api("GET", kube.url + "/healthz")
    assert (response.status, response.read()) == (200, b"ok")
