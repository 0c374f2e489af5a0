"""Helpers for the emulator tests: Status bodies, raw requests, typed Deployment bodies."""

from __future__ import annotations

import json

from kubernetes import client


def status_body(exc: client.ApiException) -> dict:
    """The ``kind: Status`` document an ApiException carries."""
    return json.loads(exc.body)


def raw_call(api_client, method: str, path: str, body=None, content_type: str = "application/json"):
    """A request the typed API methods would refuse to build (the client validates its models),
    sent through the official client's own transport; raises ApiException for non-2xx."""
    response = api_client.call_api(method, api_client.configuration.host + path,
                                   header_params={"Content-Type": content_type, "Accept": "application/json"},
                                   body=body)
    response.read()
    return api_client.response_deserialize(response, {"2XX": "object"}).data


def deployment(name: str, replicas: int = 1, labels: dict | None = None) -> client.V1Deployment:
    labels = labels or {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=replicas, selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[client.V1Container(name="app", image="pause")]))))


def raw_bytes(api_client, method: str, path: str, body: bytes, content_type: str = "application/json"):
    """Bytes the client would never send (it serialises every body itself), through its urllib3 pool."""
    from kubernetes.client.rest import RESTResponse

    response = RESTResponse(api_client.rest_client.pool_manager.request(
        method, api_client.configuration.host + path, body=body, headers={"Content-Type": content_type}))
    response.read()
    return api_client.response_deserialize(response, {"2XX": "object"}).data
