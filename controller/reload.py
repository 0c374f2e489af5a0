"""Policies the controller runs, and their hot reload from a file or a ConfigMap.

A policy source is a file path or ``configmap:NAMESPACE/NAME`` (key ``policy.yaml``, what
``scalelab promote --to configmap:NS/NAME`` writes). ``PolicyWatcher.poll()`` runs once per loop,
before any target is reconciled:

* a file is re-read only when its (mtime, size, inode) changed; a ConfigMap is read once per loop
  and parsed only when its resourceVersion changed; either way a version is new only when the
  text's hash differs from the running one;
* a new version is parsed by ``workbench.core.loading.load_policy_text`` and checked for live use
  (``check_live``: no per-pod HPA inputs; every metric bound, via the runner's callback). Valid:
  it replaces the running policy atomically between two loops (the targets' policy *state is
  reset*: the new policy starts from ``initial_state`` at the next tick). Invalid: rejected,
  logged and counted once per bad version; the old policy keeps running with its state.
* a source that cannot be read (file deleted, API down) keeps the old policy; counted once per
  outage.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from controller.config import CONFIGMAP_KEY, CONFIGMAP_PREFIX, configmap_ref
from workbench.core import errors, loading, policies

POD_METRIC_TYPES = ("Resource", "ContainerResource", "Pods")


@dataclass(frozen=True)
class LoadedPolicy:
    spec: Any
    text: str
    hash: str
    source: str

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def decide(self) -> Any:
        return policies.family(self.spec).decide

    def metrics_needed(self) -> frozenset[str]:
        return self.spec.metrics_needed()


def check_live(spec: Any, source: str) -> None:
    """Reject what the live controller cannot feed: per-pod inputs (metrics-server is out of scope)."""
    family = policies.family(spec)
    if spec.kind == "HPAPolicy":
        pod_level = [m for m in spec.metrics if m.type in POD_METRIC_TYPES]
        if pod_level:
            first = pod_level[0]
            raise errors.UserError(
                f"{source}: HPAPolicy metric {first.key} "
                f"(type {first.type}) needs per-pod samples from the resource/custom metrics APIs, which the live "
                "controller does not read; use an External (or Object) metric whose name is bound to PromQL in "
                "the bindings, e.g. {type: External, external: {metric: {name: cpu}, target: {type: Value, "
                "value: \"0.6\"}}}")
    elif family.needs_pods:
        raise errors.UserError(f"{source}: {spec.kind} needs per-pod inputs, which the live controller does not provide")


def parse(text: str, source: str) -> LoadedPolicy:
    spec = loading.load_policy_text(text, source)
    check_live(spec, source)
    return LoadedPolicy(spec, text, loading.policy_hash(text), source)


class PolicySource:
    """Reads the text of a policy from a file or a ConfigMap (``core_api``: a ``CoreV1Api``)."""

    def __init__(self, ref: str, core_api: Any = None, timeout: float = 5.0):
        self.ref, self.core_api, self.timeout = ref, core_api, timeout
        self.configmap = configmap_ref(ref) if ref.startswith(CONFIGMAP_PREFIX) else None
        if self.configmap is not None and core_api is None:
            raise errors.UserError(f"{ref}: a ConfigMap policy needs the Kubernetes API")
        self._version: Any = None

    def __str__(self) -> str:
        return self.ref

    def changed(self) -> bool:
        """Cheap check whether the source may hold a new version (always True for a ConfigMap)."""
        if self.configmap is not None:
            return True
        try:
            st = os.stat(self.ref)
        except OSError:
            return True
        return (st.st_mtime_ns, st.st_size, st.st_ino) != self._version

    def read(self) -> str:
        """The text; ``UserError`` (missing file/key) or ``UpstreamError`` (API failure)."""
        if self.configmap is None:
            try:
                st = os.stat(self.ref)
                text = Path(self.ref).read_text()
            except OSError as exc:
                raise errors.UserError(f"{self.ref}: cannot read policy: {exc.strerror or exc}") from None
            except UnicodeDecodeError:
                raise errors.UserError(f"{self.ref}: not a text file") from None
            self._version = (st.st_mtime_ns, st.st_size, st.st_ino)
            return text
        from kubernetes.client.exceptions import ApiException

        namespace, name = self.configmap
        try:
            cm = self.core_api.read_namespaced_config_map(name, namespace, _request_timeout=self.timeout)
        except ApiException as exc:
            if exc.status == 404:
                raise errors.UserError(f"{self.ref}: ConfigMap {namespace}/{name} not found") from None
            raise errors.UpstreamError(f"{self.ref}: Kubernetes API answered HTTP {exc.status} {exc.reason}") from None
        except Exception as exc:
            raise errors.UpstreamError(f"{self.ref}: cannot reach the Kubernetes API ({type(exc).__name__})") from None
        text = (cm.data or {}).get(CONFIGMAP_KEY)
        if not text:
            raise errors.UserError(f"{self.ref}: ConfigMap {namespace}/{name} has no key {CONFIGMAP_KEY!r}")
        self._version = cm.metadata.resource_version
        return text


class PolicyWatcher:
    """One policy source shared by every target (and shadow slot) that runs it."""

    def __init__(self, source: PolicySource, validate: Callable[[LoadedPolicy], None] | None = None):
        self.source = source
        self.validate = validate or (lambda policy: None)
        self.current: LoadedPolicy | None = None
        self._rejected: str | None = None   # hash of the last rejected text (counted once)
        self._read_error: str | None = None  # the current read failure (counted once)

    def load(self) -> LoadedPolicy:
        """The first version: any problem is fatal (the CLI exits 2, or 3 for an unreachable API)."""
        policy = parse(self.source.read(), str(self.source))
        self.validate(policy)
        self.current = policy
        return policy

    def poll(self) -> tuple[LoadedPolicy | None, str | None]:
        """(new policy, None) after a swap; (None, error) the first time a version or read fails;
        (None, None) when nothing changed."""
        if not self.source.changed():
            return None, None
        try:
            text = self.source.read()
        except errors.ScalelabError as exc:
            message = str(exc)
            if message == self._read_error:
                return None, None
            self._read_error = message
            return None, message
        self._read_error = None
        digest = loading.policy_hash(text)
        if self.current is not None and digest == self.current.hash:
            return None, None
        if digest == self._rejected:
            return None, None
        try:
            policy = parse(text, str(self.source))
            self.validate(policy)
        except errors.SpecError as exc:
            self._rejected = digest
            return None, exc.full_report().replace("\n", "; ")
        except errors.UserError as exc:
            self._rejected = digest
            return None, str(exc)
        self.current, self._rejected = policy, None
        return policy, None

