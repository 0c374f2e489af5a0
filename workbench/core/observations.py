"""What a policy sees at a control tick: a frozen snapshot, built by the simulator or the controller.

``metrics`` maps metric names (``cpu``, ``memory``, ``qps``, ``p95_ms`` and custom names) to the
value a monitoring system would report *now* (lagged, window-averaged), or ``None`` when the
value is missing, NaN or stale. ``replicas`` is the current desired count (the ``scale``
subresource's ``spec.replicas``); ``ready_replicas`` the pods serving traffic.

Per-pod detail (``pods``) is optional; families that need it (the HPA emulation) read it.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple

STANDARD_METRICS = ("cpu", "memory", "qps", "p95_ms")
"""Metric names every shell provides. cpu and memory are utilisation fractions (0..1+) of the
pod's request/limit averaged over ready pods; qps is the service's request rate (1/s);
p95_ms the 95th percentile latency in milliseconds."""


class PodSample(NamedTuple):
    """One pod as the HPA sees it. Times are seconds on the caller's clock; values in milli-units."""

    name: str
    phase: str                      # Pending | Running | Failed | Succeeded
    ready: bool
    start_time: float | None        # None = no status.startTime
    ready_transition_time: float | None  # lastTransitionTime of the Ready condition; None = no condition
    deleted: bool = False
    request_milli: float | None = None   # CPU request (milli-cores) or None
    metrics: Mapping[str, float] | None = None  # per-pod metric values (milli), e.g. {"cpu": 450}
    metric_time: float | None = None      # timestamp of the pod's metric sample
    metric_window: float = 30.0           # the sample's window (seconds)


class Observation(NamedTuple):
    """The world as the policy sees it at ``now`` (the ``now`` itself is passed to ``decide``)."""

    metrics: Mapping[str, float | None]
    replicas: int
    ready_replicas: int
    pods: tuple[PodSample, ...] | None = None
    status_replicas: int | None = None  # scale.status.replicas (HPA AverageValue object metrics)

    def metric(self, name: str) -> float | None:
        return self.metrics.get(name)
