"""Metric bindings: metric names (``qps``, ``cpu``, ``p95_ms``, ...) bound to PromQL for one workload.

One small YAML document, read by the backtest's ``scalelab fetch`` and by the live controller, so
a policy's metric names mean the same numbers in both::

    apiVersion: scalelab/v1
    kind: MetricBindings
    metadata: {name: checkout}              # optional
    spec:
      namespace: shop                       # required
      workload: checkout                    # required (the Deployment's name)
      service: checkout                     # default: the workload
      podRegex: "checkout-.*"               # default: "{workload}-.*"
      window: 2m                            # rate() window; default 2m
      qpsSource: http                       # http (http_requests_total) | istio (istio_requests_total)
      queries:                              # override a default, add a name, or null to unbind
        p95_ms: 1000 * histogram_quantile(0.95, sum by (le) (rate(my_latency_bucket{app="{workload}"}[{window}])))
        queue_depth: max(rabbitmq_queue_messages{namespace="{namespace}",queue="orders"})
        memory_bytes: null

Templates: ``{namespace}``, ``{workload}``, ``{service}``, ``{pod_regex}``, ``{window}``. A ``{`` +
identifier + ``}`` in a query is always a placeholder (a PromQL label matcher always contains an
operator, so the two never collide); an unknown one is an error with its path. Values are
inserted as the contents of a PromQL double-quoted string (``\\`` and ``"`` are escaped), so a
``podRegex`` is written as plain RE2 (``checkout-[a-z0-9]+-.*``). ``podRegex`` may itself use
``{namespace}``, ``{workload}`` and ``{service}``.

The defaults (``DEFAULT_QUERIES``; ``qps`` from ``ISTIO_QPS`` with ``qpsSource: istio``):

* ``qps``: requests/s of the service; ``cpu``: CPU used / CPU requested over the workload's pods
  (utilisation, 0..1+); ``cpu_cores``: mean cores per pod; ``memory``: working set / memory limit;
  ``memory_bytes``: mean working set per pod; ``p95_ms``: p95 latency in milliseconds from the
  ``http_request_duration_seconds`` histogram; ``replicas``: pods with ``Ready=true``.

Pure: ``parse_bindings`` takes text; ``load_bindings`` reads the file. Every problem is reported at
once with file, line and path (``b.yaml:9: spec.queries.qps: unknown template variable
'{servce}' (known: namespace, workload, service, pod_regex, window)``).
"""

from __future__ import annotations

import re
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from workbench.core import errors, schema

API_VERSION = "scalelab/v1"
KIND = "MetricBindings"
VARIABLES = ("namespace", "workload", "service", "pod_regex", "window")
QPS_SOURCES = ("http", "istio")
DEFAULT_WINDOW = "2m"
DEFAULT_POD_REGEX = "{workload}-.*"

_PODS = 'namespace="{namespace}",pod=~"{pod_regex}"'
DEFAULT_QUERIES: Mapping[str, str] = types.MappingProxyType({
    "qps": 'sum(rate(http_requests_total{namespace="{namespace}",service="{service}"}[{window}]))',
    "cpu": (f'sum(rate(container_cpu_usage_seconds_total{{{_PODS},container!=""}}[{{window}}]))'
            f' / sum(kube_pod_container_resource_requests{{{_PODS},resource="cpu"}})'),
    "cpu_cores": f'avg(sum by (pod) (rate(container_cpu_usage_seconds_total{{{_PODS},container!=""}}[{{window}}])))',
    "memory": (f'sum(container_memory_working_set_bytes{{{_PODS},container!=""}})'
               f' / sum(kube_pod_container_resource_limits{{{_PODS},resource="memory"}})'),
    "memory_bytes": f'avg(sum by (pod) (container_memory_working_set_bytes{{{_PODS},container!=""}}))',
    "p95_ms": ('1000 * histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket'
               '{namespace="{namespace}",service="{service}"}[{window}])))'),
    "replicas": f'count(kube_pod_status_ready{{{_PODS},condition="true"}} == 1)',
})
ISTIO_QPS = ('sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="{namespace}",'
             'destination_workload="{workload}"}[{window}]))')

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_PROMQL_DURATION = re.compile(r"^(?:\d+(?:ms|s|m|h|d|w|y))+$")
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
RESERVED_NAMES = ("timestamp",)


@dataclass(frozen=True)
class MetricBindings:
    """A validated bindings document. ``templates`` holds the final query templates by name."""

    namespace: str
    workload: str
    service: str
    pod_regex: str
    window: str
    qps_source: str = "http"
    templates: Mapping[str, str] = field(default_factory=dict)
    name: str = ""
    source: str = "<bindings>"

    def __post_init__(self) -> None:
        object.__setattr__(self, "templates", types.MappingProxyType(dict(self.templates)))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.templates)

    def variables(self) -> dict[str, str]:
        """Template values, escaped for a PromQL double-quoted string (``window`` is a duration)."""
        plain = {"namespace": self.namespace, "workload": self.workload, "service": self.service}
        pod_regex = render_template(self.pod_regex, plain)
        return {**{k: _escape(v) for k, v in plain.items()}, "pod_regex": _escape(pod_regex), "window": self.window}

    def render(self) -> dict[str, str]:
        """``{name: promql}`` with every template variable filled in."""
        values = self.variables()
        return {name: render_template(text, values) for name, text in self.templates.items()}


def render_template(text: str, values: Mapping[str, str]) -> str:
    """Replace each ``{name}`` placeholder; unknown names are left as they are."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def template_variables(text: str) -> list[str]:
    """The placeholder names used in ``text``, in order of first use."""
    return list(dict.fromkeys(m.group(1) for m in _PLACEHOLDER.finditer(text)))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def window_text(value: Any) -> str | None:
    """A PromQL duration from ``2m`` / ``90s`` / ``1h30m`` or a number of seconds; None if invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        if value <= 0 or value != int(value):
            return None
        return f"{int(value)}s"
    if isinstance(value, str) and _PROMQL_DURATION.match(value.strip()) and re.search(r"[1-9]", value):
        return value.strip()
    return None


# -- loading -------------------------------------------------------------------------------------
def load_bindings(path: str | Path) -> MetricBindings:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise errors.UserError(f"{path}: cannot read bindings: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise errors.UserError(f"{path}: not a text file") from None
    return parse_bindings(text, str(path))


def parse_bindings(text: str, source: str = "<bindings>") -> MetricBindings:
    doc, lines = schema.parse_yaml(text, source)
    return from_document(doc, source, lines)


def from_document(doc: Any, source: str = "<bindings>", lines: dict[str, int] | None = None) -> MetricBindings:
    """Validate an already-parsed document (``{apiVersion, kind, metadata, spec}``)."""
    r = schema.Reader(source, lines)
    doc = r.mapping(doc, "", ("apiVersion", "kind", "metadata", "spec"), required=("kind", "spec"))
    if doc.get("apiVersion", API_VERSION) != API_VERSION:
        r.error("apiVersion", f"unsupported apiVersion {doc['apiVersion']!r} (expected {API_VERSION})")
    if "kind" in doc and doc["kind"] != KIND:
        r.error("kind", f"expected kind {KIND}, got {doc['kind']!r}")
    meta = r.mapping(doc.get("metadata", {}), "metadata", ("name", "description", "labels"))
    name = r.string(meta, "name", "metadata", Path(source).stem)
    bindings = _spec(r, doc.get("spec", {}), "spec", name, source)
    r.finish()
    return bindings


def defaults(namespace: str, workload: str, *, service: str | None = None, pod_regex: str = DEFAULT_POD_REGEX,
             window: str = DEFAULT_WINDOW, qps_source: str = "http", queries: Mapping[str, str | None] | None = None,
             source: str = "<bindings>") -> MetricBindings:
    """Bindings built in code, validated exactly like a file."""
    spec: dict[str, Any] = {"namespace": namespace, "workload": workload, "podRegex": pod_regex, "window": window,
                            "qpsSource": qps_source}
    if service is not None:
        spec["service"] = service
    if queries:
        spec["queries"] = dict(queries)
    return from_document({"kind": KIND, "spec": spec}, source)


_SPEC = ("namespace", "workload", "service", "podRegex", "window", "qpsSource", "queries")


def _spec(r: schema.Reader, value: Any, path: str, name: str, source: str) -> MetricBindings:
    s = r.mapping(value, path, _SPEC, required=("namespace", "workload"))
    labels = {}
    for key in ("namespace", "workload", "service"):
        text = r.string(s, key, path, s.get("workload", "") if key == "service" else "")
        if text and isinstance(text, str) and key in s and not _LABEL_VALUE.match(text):
            r.error(schema.join(path, key), f"expected a Kubernetes name (letters, digits, '-', '.', '_'), got {text!r}")
        labels[key] = text if isinstance(text, str) else ""
    pod_regex = r.string(s, "podRegex", path, DEFAULT_POD_REGEX)
    if isinstance(pod_regex, str) and pod_regex:
        unknown = [v for v in template_variables(pod_regex) if v not in ("namespace", "workload", "service")]
        if unknown:
            r.error(schema.join(path, "podRegex"), f"unknown template variable '{{{unknown[0]}}}' "
                                                   "(known here: namespace, workload, service)")
        else:
            try:
                re.compile(render_template(pod_regex, labels))
            except re.error as exc:
                r.error(schema.join(path, "podRegex"), f"not a valid regular expression: {exc}")
    window = DEFAULT_WINDOW
    if "window" in s:
        window = window_text(s["window"])
        if window is None:
            r.error(schema.join(path, "window"), f"expected a PromQL duration like 2m, 90s, 1h30m, got {s['window']!r}")
            window = DEFAULT_WINDOW
    qps_source = r.string(s, "qpsSource", path, "http", choices=QPS_SOURCES)
    templates = dict(DEFAULT_QUERIES)
    if qps_source == "istio":
        templates["qps"] = ISTIO_QPS
    qp = schema.join(path, "queries")
    queries = r.mapping(s.get("queries", {}), qp, s["queries"] if isinstance(s.get("queries"), dict) else ())
    for key, text in queries.items():
        kp = schema.join(qp, str(key))
        if not isinstance(key, str) or not _NAME.match(key) or key in RESERVED_NAMES:
            why = "is reserved" if key in RESERVED_NAMES else "must be lower_snake_case (letters, digits, '_')"
            r.error(kp, f"metric name {str(key)!r} {why}")
            continue
        if text is None:
            templates.pop(key, None)
            continue
        if not isinstance(text, str) or not text.strip():
            r.error(kp, f"expected a PromQL query (or null to unbind), got {schema.type_name(text)} {text!r}")
            continue
        for var in template_variables(text):
            if var not in VARIABLES:
                r.error(kp, f"unknown template variable '{{{var}}}' (known: {', '.join(VARIABLES)})")
        templates[key] = text.strip()
    if not templates and r.ok:
        r.error(qp, "every query is unbound; nothing to fetch")
    return MetricBindings(namespace=labels["namespace"], workload=labels["workload"], service=labels["service"],
                          pod_regex=pod_regex or DEFAULT_POD_REGEX, window=window, qps_source=qps_source or "http",
                          templates=templates, name=name, source=source)
