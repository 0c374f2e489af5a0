"""Telemetry: the controller's Prometheus metrics and its ``/metrics``, ``/healthz``, ``/readyz`` server.

Each ``Telemetry`` owns its own ``CollectorRegistry`` (several controllers may live in one process,
as in the tests). Metrics (``target`` is ``namespace/kind/name``):

* ``autoscaler_decisions_total{target,action,status}`` -- action up|down|hold, status
  success|failure|dry_run|skipped (live decisions only; shadows are in the decision log);
* ``autoscaler_current_replicas{target}``, ``autoscaler_desired_replicas{target}``;
* ``autoscaler_metric_value{target,metric}`` (NaN when missing);
* ``autoscaler_circuit_state{target}`` (0 closed, 1 open, 2 half-open);
  ``autoscaler_circuit_opened_total{target}`` (the alert);
* ``autoscaler_lock_held{target}`` (1 held, 0 not);
* ``autoscaler_policy_reloads_total{result}`` (success|error);
* ``autoscaler_loop_duration_seconds`` (histogram, one observation per loop over all targets);
* ``autoscaler_observation_failures_total{target,reason}`` (one per failed metric per tick;
  reasons absent|nan|stale|invalid|error|timeout).

``HealthServer`` serves ``/metrics`` (text exposition), ``/healthz`` (200 while the process
runs) and ``/readyz`` (200 once the policies are loaded and the first loop finished, else 503).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LOOP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0)


class Telemetry:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.decisions = Counter("autoscaler_decisions", "Live decisions by action and result",
                                 ("target", "action", "status"), registry=r)
        self.current = Gauge("autoscaler_current_replicas", "spec.replicas of the target's scale",
                             ("target",), registry=r)
        self.desired = Gauge("autoscaler_desired_replicas", "Replicas the policy asked for",
                             ("target",), registry=r)
        self.metric_value = Gauge("autoscaler_metric_value", "Metric values the policy saw (NaN = missing)",
                                  ("target", "metric"), registry=r)
        self.circuit = Gauge("autoscaler_circuit_state", "Circuit breaker: 0 closed, 1 open, 2 half-open",
                             ("target",), registry=r)
        self.circuit_opened = Counter("autoscaler_circuit_opened", "Times the circuit breaker opened (alerts)",
                                      ("target",), registry=r)
        self.lock_held = Gauge("autoscaler_lock_held", "1 when this replica holds the target's lock",
                               ("target",), registry=r)
        self.reloads = Counter("autoscaler_policy_reloads", "Policy hot reloads by result", ("result",),
                               registry=r)
        self.loop_duration = Histogram("autoscaler_loop_duration_seconds", "Wall time of one loop over all targets",
                                       buckets=LOOP_BUCKETS, registry=r)
        self.observation_failures = Counter("autoscaler_observation_failures",
                                            "Metrics that were missing, NaN, stale or failed, per tick",
                                            ("target", "reason"), registry=r)
        for result in ("success", "error"):
            self.reloads.labels(result)

    def text(self) -> bytes:
        return generate_latest(self.registry)

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        return self.registry.get_sample_value(name, labels or {})


class HealthServer:
    """``/metrics``, ``/healthz``, ``/readyz`` on ``address:port`` in a daemon thread."""

    def __init__(self, telemetry: Telemetry, address: str, port: int, ready: Callable[[], bool]):
        telemetry_ref, ready_ref = telemetry, ready

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's signature
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, telemetry_ref.text(), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    self._send(200, b"ok\n")
                elif path == "/readyz":
                    ok = ready_ref()
                    self._send(200 if ok else 503, b"ready\n" if ok else b"not ready\n")
                else:
                    self._send(404, b"not found\n")

            def _send(self, status: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer((address, port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"controller-metrics:{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
