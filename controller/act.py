"""Act: read and patch the ``scale`` subresource of Deployments and StatefulSets, post Events.

Uses the official ``kubernetes`` client (``AppsV1Api``/``CoreV1Api``) and nothing else:

* ``read(ref)`` -> ``ScaleView`` (``spec.replicas``, ``status.replicas``, ``resourceVersion``, uid);
* ``write(ref, view, replicas)``: a merge patch ``{"metadata": {"resourceVersion": RV}, "spec":
  {"replicas": N}}``, i.e. optimistic concurrency: the API server answers 409 Conflict when the
  scale changed since ``view`` was read; that surfaces as ``Conflict`` and the reconcile decides
  what to do with a fresh read (``loop``). The caller never writes when ``replicas`` already equals
  ``view.replicas`` (idempotent).
* Transient failures (connection errors, timeouts, HTTP 429 and 5xx) are retried ``retries``
  times with a doubling backoff from ``backoff`` seconds; every request has a ``timeout``. What is
  left raises ``ApiFailure`` with a one-line reason (``timeout``, ``HTTP 500 ...``, ``HTTP 403 ...``).
  A write that timed out may have been applied: its retry carries the same resourceVersion, so it
  conflicts and the fresh read shows the count already there.
* ``event(...)``: a ``v1`` Event on the target object (best effort, never raises).

RBAC verbs used: ``get``/``patch`` on ``deployments/scale`` and ``statefulsets/scale`` (apps),
``create`` on ``events`` (core).
"""

from __future__ import annotations

import datetime as _dt
import time
from typing import Any, Callable, NamedTuple

from controller.config import TargetRef

TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
COMPONENT = "scalelab-controller"


class ScaleView(NamedTuple):
    replicas: int                 # spec.replicas
    status_replicas: int          # status.replicas
    resource_version: str
    uid: str | None = None
    selector: str | None = None


class ApiFailure(Exception):
    """A Kubernetes call failed for good (after retries). ``reason`` is one line."""

    def __init__(self, reason: str, status: int | None = None, transient: bool = True):
        super().__init__(reason)
        self.reason, self.status, self.transient = reason, status, transient


class Conflict(Exception):
    """The write lost an optimistic-concurrency race (HTTP 409)."""


def describe_exception(exc: BaseException) -> tuple[str, int | None, bool]:
    """(one-line reason, HTTP status or None, transient?) for a client exception."""
    from kubernetes.client.exceptions import ApiException

    if isinstance(exc, ApiException):
        status = int(exc.status or 0)
        text = f"HTTP {status} {exc.reason or ''}".strip()
        try:
            import json

            message = json.loads(exc.body or "{}").get("message")
            if message:
                text += f": {str(message).splitlines()[0][:200]}"
        except (ValueError, AttributeError):
            pass
        return text, status, status in TRANSIENT_STATUS or status == 0
    name = type(exc).__name__
    if "Timeout" in name or "timed out" in str(exc):
        return "timeout (no answer within the API timeout)", None, True
    return f"cannot reach the Kubernetes API ({name})", None, True


class ScaleExecutor:
    """The Kubernetes side of one controller: scale reads/writes and Events, with retries."""

    def __init__(self, api_client: Any, *, timeout: float = 5.0, retries: int = 2, backoff: float = 0.2,
                 identity: str = COMPONENT, sleep: Callable[[float], None] = time.sleep):
        from kubernetes import client

        self.apps = client.AppsV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.identity = identity
        self._sleep = sleep
        self.calls = 0

    # -- plumbing -----------------------------------------------------------------------------
    def _call(self, fn: Callable[[], Any], *, conflict_is_final: bool = False) -> Any:
        from kubernetes.client.exceptions import ApiException

        wait = self.backoff
        for attempt in range(self.retries + 1):
            self.calls += 1
            try:
                return fn()
            except ApiException as exc:
                if exc.status == 409 and conflict_is_final:
                    raise Conflict(describe_exception(exc)[0]) from None
                reason, status, transient = describe_exception(exc)
            except Exception as exc:  # urllib3 timeouts, connection errors
                reason, status, transient = describe_exception(exc)
            if not transient or attempt == self.retries:
                tries = f" (after {attempt + 1} attempts)" if attempt else ""
                raise ApiFailure(reason + tries, status, transient)
            self._sleep(wait)
            wait *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def _methods(self, ref: TargetRef) -> tuple[Callable, Callable]:
        if ref.kind == "deployment":
            return self.apps.read_namespaced_deployment_scale, self.apps.patch_namespaced_deployment_scale
        return self.apps.read_namespaced_stateful_set_scale, self.apps.patch_namespaced_stateful_set_scale

    @staticmethod
    def _view(scale: Any) -> ScaleView:
        spec, status = scale.spec, scale.status
        return ScaleView(replicas=int((spec.replicas if spec else 0) or 0),
                         status_replicas=int((status.replicas if status else 0) or 0),
                         resource_version=scale.metadata.resource_version or "",
                         uid=scale.metadata.uid, selector=status.selector if status else None)

    # -- the scale ----------------------------------------------------------------------------
    def read(self, ref: TargetRef) -> ScaleView:
        read, _ = self._methods(ref)
        return self._view(self._call(lambda: read(ref.name, ref.namespace, _request_timeout=self.timeout)))

    def write(self, ref: TargetRef, view: ScaleView, replicas: int) -> ScaleView:
        _, patch = self._methods(ref)
        body = {"metadata": {"resourceVersion": view.resource_version}, "spec": {"replicas": int(replicas)}}
        scale = self._call(lambda: patch(ref.name, ref.namespace, body, _request_timeout=self.timeout,
                                         _content_type="application/merge-patch+json"), conflict_is_final=True)
        return self._view(scale)

    # -- events -------------------------------------------------------------------------------
    def event(self, ref: TargetRef, uid: str | None, type_: str, reason: str, message: str) -> bool:
        """Post a v1 Event on the target (``type_`` Normal|Warning). Best effort: False on failure."""
        from kubernetes import client

        now = _dt.datetime.now(_dt.timezone.utc)
        body = client.CoreV1Event(
            metadata=client.V1ObjectMeta(name=f"{ref.name}.{time.time_ns():x}", namespace=ref.namespace),
            involved_object=client.V1ObjectReference(api_version="apps/v1", kind=ref.api_kind, name=ref.name,
                                                     namespace=ref.namespace, uid=uid),
            reason=reason, message=message[:1024], type=type_, count=1, first_timestamp=now, last_timestamp=now,
            source=client.V1EventSource(component=COMPONENT), reporting_component=COMPONENT,
            reporting_instance=self.identity[:128])
        try:
            self.core.create_namespaced_event(ref.namespace, body, _request_timeout=self.timeout)
            return True
        except Exception:
            return False


class MemoryScale:
    """An in-memory scale API with resourceVersions and 409s on stale writes (tests, the bench)."""

    def __init__(self) -> None:
        self.objects: dict[str, list] = {}   # target id -> [replicas, resourceVersion]
        self.events: list[tuple[str, str, str, str]] = []
        self.writes = 0
        self._rv = 0

    def add(self, ref: TargetRef, replicas: int) -> None:
        self._rv += 1
        self.objects[ref.id] = [replicas, self._rv]

    def read(self, ref: TargetRef) -> ScaleView:
        replicas, rv = self.objects[ref.id]
        return ScaleView(replicas, replicas, str(rv), uid=ref.id)

    def write(self, ref: TargetRef, view: ScaleView, replicas: int) -> ScaleView:
        current = self.objects[ref.id]
        if str(current[1]) != view.resource_version:
            raise Conflict("HTTP 409 Conflict")
        self._rv += 1
        self.writes += 1
        self.objects[ref.id] = [replicas, self._rv]
        return self.read(ref)

    def event(self, ref: TargetRef, uid: str | None, type_: str, reason: str, message: str) -> bool:
        self.events.append((ref.id, type_, reason, message))
        return True
