"""Fixtures for the live controller: a live exporter scraped by a real Prometheus (session), a real
Redis (session), the Kubernetes API emulator (per test), and a unique workload name per test."""

from __future__ import annotations

import itertools

import pytest

from controller.testing import KubeEmulator
from tests.controller import support
from tests.prometheus.conftest import PROMETHEUS, PROMTOOL

_names = itertools.count(1)


@pytest.fixture(scope="session")
def live_metrics():
    exporter = support.LiveMetrics()
    yield exporter
    exporter.stop()


@pytest.fixture(scope="session")
def prom(tmp_path_factory, live_metrics):
    """A real Prometheus scraping ``live_metrics`` every second; ready once the first scrape landed."""
    if not (PROMETHEUS and PROMTOOL):
        pytest.fail("prometheus not installed: run scripts/ensure-services.sh (Debian package prometheus)")
    live_metrics.set("warmup", cpu=1.0)
    server = support.ScrapingProm(tmp_path_factory.mktemp("prom-live"), [f"127.0.0.1:{live_metrics.port}"]).start()
    support.wait_scraped(server.url, "warmup", {"cpu": 1.0}, timeout=30)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = support.RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def kube():
    with KubeEmulator() as emulator:
        yield emulator


@pytest.fixture
def workload(kube):
    """A fresh Deployment name (the exporter and Prometheus are shared across tests), at 4 replicas."""
    name = f"web{next(_names)}"
    kube.add_deployment(support.NS, name, replicas=4)
    return name
