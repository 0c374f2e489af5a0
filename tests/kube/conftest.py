"""Fixtures for the Kubernetes API emulator tests: a running emulator and official-client APIs."""

from __future__ import annotations

import pytest
from kubernetes import client

from controller.testing import KubeEmulator


@pytest.fixture
def kube():
    with KubeEmulator() as emulator:
        yield emulator


@pytest.fixture
def apps(kube):
    return client.AppsV1Api(kube.client())


@pytest.fixture
def core(kube):
    return client.CoreV1Api(kube.client())


@pytest.fixture
def coord(kube):
    return client.CoordinationV1Api(kube.client())
