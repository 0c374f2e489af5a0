"""Metric bindings: defaults, templates, overrides, and every problem reported with file:line: path."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.core import errors
from workbench.sources import bindings

REPO = Path(__file__).resolve().parents[2]


def test_defaults_render_the_seed_queries():
    q = bindings.defaults("shop", "checkout").render()
    assert q == {
        "qps": 'sum(rate(http_requests_total{namespace="shop",service="checkout"}[2m]))',
        "cpu": 'sum(rate(container_cpu_usage_seconds_total{namespace="shop",pod=~"checkout-.*",container!=""}[2m]))'
               ' / sum(kube_pod_container_resource_requests{namespace="shop",pod=~"checkout-.*",resource="cpu"})',
        "cpu_cores": 'avg(sum by (pod) (rate(container_cpu_usage_seconds_total{namespace="shop",pod=~"checkout-.*",'
                     'container!=""}[2m])))',
        "memory": 'sum(container_memory_working_set_bytes{namespace="shop",pod=~"checkout-.*",container!=""})'
                  ' / sum(kube_pod_container_resource_limits{namespace="shop",pod=~"checkout-.*",resource="memory"})',
        "memory_bytes": 'avg(sum by (pod) (container_memory_working_set_bytes{namespace="shop",pod=~"checkout-.*",'
                        'container!=""}))',
        "p95_ms": '1000 * histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket'
                  '{namespace="shop",service="checkout"}[2m])))',
        "replicas": 'count(kube_pod_status_ready{namespace="shop",pod=~"checkout-.*",condition="true"} == 1)',
    }


def test_istio_qps_and_options():
    b = bindings.parse_bindings("""apiVersion: scalelab/v1
kind: MetricBindings
spec:
  namespace: shop
  workload: checkout-v2
  service: checkout
  podRegex: '{workload}-\\d+'
  window: 90
  qpsSource: istio
""", "b.yaml")
    q = b.render()
    assert q["qps"] == ('sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="shop",'
                        'destination_workload="checkout-v2"}[90s]))')
    # the regex is inserted as the contents of a PromQL double-quoted string: the backslash is escaped
    assert 'pod=~"checkout-v2-\\\\d+"' in q["replicas"]
    assert b.service == "checkout" and b.window == "90s" and b.name == "b"


def test_overrides_custom_names_and_unbinding():
    b = bindings.defaults("shop", "api", queries={
        "queue_depth": 'max(queue_messages{namespace="{namespace}",queue="orders"})',
        "p95_ms": None, "memory_bytes": None,
        "qps": 'sum(rate(nginx_requests_total{app="{service}"}[{window}]))'})
    q = b.render()
    assert list(q) == ["qps", "cpu", "cpu_cores", "memory", "replicas", "queue_depth"]
    assert q["queue_depth"] == 'max(queue_messages{namespace="shop",queue="orders"})'
    assert q["qps"] == 'sum(rate(nginx_requests_total{app="api"}[2m]))'


def test_every_problem_is_reported_with_line_and_path():
    text = """apiVersion: scalelab/v2
kind: MetricBindings
spec:
  namespace: shop
  workload: 'a"b'
  window: 0m
  qpsSource: grpc
  podRegex: 'x-(['
  extra: 1
  queries:
    qps: sum(rate(x{svc="{servce}"}[{window}]))
    Bad-Name: up
    timestamp: up
    n: 5
"""
    with pytest.raises(errors.SpecError) as info:
        bindings.parse_bindings(text, "b.yaml")
    assert info.value.full_report().splitlines() == [
        "b.yaml:1: apiVersion: unsupported apiVersion 'scalelab/v2' (expected scalelab/v1)",
        "b.yaml:9: spec.extra: unknown key 'extra' (allowed: namespace, workload, service, podRegex, window, "
        "qpsSource, queries)",
        "b.yaml:5: spec.workload: expected a Kubernetes name (letters, digits, '-', '.', '_'), got 'a\"b'",
        "b.yaml:8: spec.podRegex: not a valid regular expression: unterminated character set at position 3",
        "b.yaml:6: spec.window: expected a PromQL duration like 2m, 90s, 1h30m, got '0m'",
        "b.yaml:7: spec.qpsSource: must be one of http, istio, got 'grpc'",
        "b.yaml:11: spec.queries.qps: unknown template variable '{servce}' (known: namespace, workload, service, "
        "pod_regex, window)",
        "b.yaml:12: spec.queries.Bad-Name: metric name 'Bad-Name' must be lower_snake_case (letters, digits, '_')",
        "b.yaml:13: spec.queries.timestamp: metric name 'timestamp' is reserved",
        "b.yaml:14: spec.queries.n: expected a PromQL query (or null to unbind), got number 5",
    ]
    assert str(info.value).startswith("b.yaml:1: apiVersion: unsupported apiVersion") and "(and 9 more problems)" in str(info.value)


@pytest.mark.parametrize("text, message", [
    ("kind: MetricBindings\nspec: {workload: x}\n", "b.yaml:2: spec: missing required key 'namespace'"),
    ("kind: Policy\nspec: {namespace: a, workload: x}\n", "b.yaml:1: kind: expected kind MetricBindings, got 'Policy'"),
    ("kind: MetricBindings\nspec: {namespace: a, workload: x, podRegex: '{pod_regex}x'}\n",
     "b.yaml:2: spec.podRegex: unknown template variable '{pod_regex}' (known here: namespace, workload, service)"),
    ("kind: MetricBindings\nspec:\n  namespace: a\n  workload: x\n  queries: {qps: null, cpu: null, cpu_cores: null,"
     " memory: null, memory_bytes: null, p95_ms: null, replicas: null}\n",
     "b.yaml:5: spec.queries: every query is unbound; nothing to fetch"),
    ("kind: MetricBindings\nspec: [1]\n", "b.yaml:2: spec: expected a mapping, got list"),
], ids=["missing-namespace", "wrong-kind", "podregex-self", "all-unbound", "spec-not-mapping"])
def test_single_problems(text, message):
    with pytest.raises(errors.SpecError) as info:
        bindings.parse_bindings(text, "b.yaml")
    assert str(info.value) == message


def test_example_file_loads():
    b = bindings.load_bindings(REPO / "scenarios/bindings/example.yaml")
    q = b.render()
    assert b.name == "checkout" and set(bindings.DEFAULT_QUERIES) < set(q) and {"queue_depth", "p99_ms"} < set(q)
    assert q["replicas"] == ('count(kube_pod_status_ready{namespace="shop",pod=~"checkout-[a-z0-9]+-[a-z0-9]+",'
                             'condition="true"} == 1)')


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(errors.UserError, match=r"^.*nope.yaml: cannot read bindings: No such file or directory$"):
        bindings.load_bindings(tmp_path / "nope.yaml")


def test_template_helpers():
    assert bindings.template_variables('a{namespace}{x="1"}{window}{namespace}') == ["namespace", "window"]
    assert bindings.render_template('f{x="{service}"}[{window}] {other}', {"service": "s", "window": "1m"}) == \
        'f{x="s"}[1m] {other}'
    assert [bindings.window_text(v) for v in ("2m", "1h30m", 90, 1.5, "0s", "2 m", True)] == \
        ["2m", "1h30m", "90s", None, None, None, None]
