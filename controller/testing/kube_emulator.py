"""A small stateful Kubernetes API server over real HTTP, for tests of the live controller.

The official ``kubernetes`` client talks to it unmodified::

    with KubeEmulator() as kube:
        kube.add_deployment("shop", "web", replicas=2)
        apps = kubernetes.client.AppsV1Api(kube.client())
        apps.patch_namespaced_deployment_scale("web", "shop", {"spec": {"replicas": 5}})
        assert kube.get("deployments", "shop", "web")["spec"]["replicas"] == 5

It serves apps/v1 Deployments and StatefulSets (with the ``scale`` and ``status`` subresources),
coordination.k8s.io/v1 Leases, v1 ConfigMaps and Events and events.k8s.io/v1 Events, with the real
server's optimistic concurrency (see ``kube_store``), and lets a test inject latency, 5xx answers,
409 storms, concurrent writers, dropped connections and hanging requests (see ``kube_faults``).
Loopback only; one instance per test is cheap (a thread and a socket).
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import threading
import time
from typing import Any, Callable, Iterable, Iterator

from controller.testing import kube_faults, kube_http, kube_kinds
from controller.testing.kube_faults import Record, RequestInfo, Rule
from controller.testing.kube_store import Store

Where = Callable[[RequestInfo], bool]


class KubeEmulator:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, rollout_delay: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        try:
            loopback = ipaddress.ip_address(host).is_loopback and ipaddress.ip_address(host).version == 4
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"the emulator listens on an IPv4 loopback address (127.0.0.1), not {host!r}")
        self._address = (host, port)
        self.store = Store(rollout_delay=rollout_delay, clock=clock)
        self.faults = kube_faults.Faults()
        self.log = kube_faults.RequestLog()
        self._server: kube_http.EmulatorServer | None = None
        self._thread: threading.Thread | None = None
        self._clients: list[Any] = []

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> "KubeEmulator":
        if self._server is not None:
            return self
        self._server = kube_http.EmulatorServer(self._address, self.store, self.faults, self.log)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"kube-emulator:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        for api_client in self._clients:
            with contextlib.suppress(Exception):
                api_client.close()
        self._clients.clear()
        server.shutdown()
        server.close_all()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "KubeEmulator":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() or use it as a context manager")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self._address[0]}:{self.port}"

    # --- official client -------------------------------------------------------------------

    def configuration(self, **attributes: Any):
        """A ``kubernetes.client.Configuration`` for this server (no auth, no proxy); keyword
        arguments set further attributes, e.g. ``retries=False``."""
        from kubernetes import client

        config = client.Configuration(host=self.url, no_proxy="*")
        config.verify_ssl = False
        for name, value in attributes.items():
            setattr(config, name, value)
        return config

    def client(self, **attributes: Any):
        """A new ``kubernetes.client.ApiClient`` for this server, closed when the emulator stops."""
        from kubernetes import client

        api_client = client.ApiClient(self.configuration(**attributes))
        self._clients.append(api_client)
        return api_client

    @contextlib.contextmanager
    def as_default(self, **attributes: Any) -> Iterator[None]:
        """Make this server the client library's default configuration for the block (what
        ``kubernetes.leaderelection``'s ``LeaseLock`` uses), then restore the previous one."""
        from kubernetes import client

        previous_config, previous_client = client.Configuration._default, client.ApiClient._default
        client.Configuration.set_default(self.configuration(**attributes))
        client.ApiClient.set_default(None)
        try:
            yield
        finally:
            client.Configuration._default = previous_config
            client.ApiClient.set_default(previous_client)

    # --- state: seeds and assertions --------------------------------------------------------

    def create(self, kind: str, namespace: str, body: dict) -> dict:
        return self.store.create(kube_kinds.resolve(kind), namespace, body)

    def add_deployment(self, namespace: str, name: str, replicas: int = 1, labels: dict | None = None, *,
                       selector: dict | None = None, image: str = "registry.k8s.io/pause:3.10") -> dict:
        return self.create("deployments", namespace, _workload("Deployment", name, replicas, labels,
                                                               selector, image))

    def add_statefulset(self, namespace: str, name: str, replicas: int = 1, labels: dict | None = None, *,
                        selector: dict | None = None, image: str = "registry.k8s.io/pause:3.10") -> dict:
        body = _workload("StatefulSet", name, replicas, labels, selector, image)
        body["spec"]["serviceName"] = name
        return self.create("statefulsets", namespace, body)

    def add_configmap(self, namespace: str, name: str, data: dict[str, str] | None = None) -> dict:
        return self.create("configmaps", namespace, {"metadata": {"name": name}, "data": dict(data or {})})

    def get(self, kind: str, namespace: str, name: str) -> dict | None:
        """The stored object (a copy), or None."""
        return self.store.find(kube_kinds.resolve(kind), namespace, name)

    def list(self, kind: str, namespace: str | None = None) -> list[dict]:
        return self.store.list(kube_kinds.resolve(kind), namespace)["items"]

    def events(self, namespace: str | None = None) -> list[dict]:
        """Events posted through either events API, oldest resourceVersion first."""
        items = self.list("events", namespace) + self.list("events.events.k8s.io", namespace)
        return sorted(items, key=lambda e: int(e["metadata"]["resourceVersion"]))

    def update(self, kind: str, namespace: str, name: str, change: Callable[[dict], Any]) -> dict:
        """Write as another party would (no preconditions): ``change`` edits the object in place."""
        return self.store.mutate(kube_kinds.resolve(kind), namespace, name, change)

    def set_replicas(self, kind: str, namespace: str, name: str, replicas: int) -> dict:
        """A concurrent ``kubectl scale``."""
        return self.update(kind, namespace, name, lambda obj: obj["spec"].__setitem__("replicas", replicas))

    def touch(self, kind: str, namespace: str, name: str) -> dict:
        """Bump the object's resourceVersion behind every client's back."""
        return self.store.touch(kube_kinds.resolve(kind), namespace, name)

    @property
    def resource_version(self) -> int:
        return self.store.resource_version

    @property
    def rollout_delay(self) -> float:
        return self.store.rollout_delay

    @rollout_delay.setter
    def rollout_delay(self, seconds: float) -> None:
        self.store.rollout_delay = seconds

    @staticmethod
    def path_pattern(kind: str, namespace: str | None = None, name: str | None = None,
                     subresource: str | None = None) -> str:
        """An anchored regular expression for one URL, for the faults' ``path`` argument."""
        k = kube_kinds.resolve(kind)
        prefix = f"/apis/{k.api_version}" if k.group else f"/api/{k.version}"
        path = prefix + (f"/namespaces/{namespace}" if namespace else "") + f"/{k.plural}"
        path += f"/{name}" if name else ""
        path += f"/{subresource}" if subresource else ""
        return "^" + re.escape(path) + "$"

    # --- faults ----------------------------------------------------------------------------

    def add_latency(self, seconds: float | Callable[[RequestInfo], float], *, count: int | None = None,
                    method: str | Iterable[str] | None = None, path: str | None = None,
                    where: Where | None = None) -> Rule:
        """Delay matching requests by ``seconds`` (or ``seconds(request)``); until removed by default."""
        return self.faults.add("latency", count=count, method=method, path=path, where=where, seconds=seconds)

    def fail_next(self, n: int | None = 1, *, status: int = 500, method: str | Iterable[str] | None = None,
                  path: str | None = None, where: Where | None = None, message: str = "",
                  retry_after: int | None = None) -> Rule:
        """Answer the next ``n`` matching requests with ``status`` and a ``Status`` body."""
        return self.faults.add("error", count=n, method=method, path=path, where=where, status=status,
                               message=message, retry_after=retry_after)

    def conflict_next(self, n: int | None = 1, *, method: str | Iterable[str] = "WRITE", path: str | None = None,
                      where: Where | None = None) -> Rule:
        """A 409 storm: the next ``n`` matching writes answer 409 Conflict, fresh resourceVersion or not."""
        return self.faults.add("conflict", count=n, method=method, path=path, where=where)

    def touch_before_next(self, n: int | None = 1, *, method: str | Iterable[str] = "WRITE",
                          path: str | None = None, where: Where | None = None) -> Rule:
        """A concurrent writer: bump the addressed object's resourceVersion just before each of the
        next ``n`` matching requests, so writes carrying the version read earlier conflict."""
        return self.faults.add("touch", count=n, method=method, path=path, where=where)

    def drop_next(self, n: int | None = 1, *, method: str | Iterable[str] | None = None, path: str | None = None,
                  where: Where | None = None) -> Rule:
        """Close the connection without answering the next ``n`` matching requests."""
        return self.faults.add("drop", count=n, method=method, path=path, where=where)

    def hang_next(self, n: int | None = 1, *, seconds: float = 30.0, method: str | Iterable[str] | None = None,
                  path: str | None = None, where: Where | None = None) -> Rule:
        """Hold the next ``n`` matching requests ``seconds`` without answering, then close (stopping
        the emulator ends the wait)."""
        return self.faults.add("hang", count=n, method=method, path=path, where=where, seconds=seconds)

    def remove_fault(self, rule: Rule | int) -> None:
        self.faults.remove(rule)

    def clear_faults(self) -> None:
        self.faults.clear()

    # --- request log -----------------------------------------------------------------------

    @property
    def requests(self) -> list[Record]:
        return self.log.records()

    def requests_matching(self, method: str | Iterable[str] | None = None, path: str | None = None) -> list[Record]:
        wanted = kube_faults.verbs(method)
        return [r for r in self.log.records()
                if (wanted is None or r.method in wanted) and (path is None or re.search(path, r.path))]

    def clear_requests(self) -> None:
        self.log.clear()


def _workload(kind: str, name: str, replicas: int, labels: dict | None, selector: dict | None,
              image: str) -> dict:
    labels = dict(labels or {"app": name})
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": replicas, "selector": selector or {"matchLabels": dict(labels)},
                     "template": {"metadata": {"labels": dict(labels)},
                                  "spec": {"containers": [{"name": "app", "image": image}]}}}}
