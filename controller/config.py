"""Controller settings: what to scale, with which policy and metrics, and every timer.

Two ways in, one frozen ``Settings`` out (``build``):

* flags: ``--target NS/KIND/NAME --policy FILE --bindings FILE [--shadow FILE ...]`` for one target;
* ``--config FILE``: a YAML document (``kind: ControllerConfig``) listing several targets, each
  with its own policy, bindings, shadows, ``minInterval``, ``maxAge`` and ``fallback``, plus the
  process-wide settings. Read with ``workbench.core.schema.Reader``: every problem is reported
  at once as ``file:line: path: message``. Relative paths are resolved against the file's folder.

Precedence: a flag given on the command line > the config file > the default. Targets come from
the file or from the flags, never both. See ``docs/controller.md`` for the schema and the timers.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import unquote, urlsplit

from workbench.core import errors, schema

API_VERSION = "scalelab/v1"
KIND = "ControllerConfig"
CONFIGMAP_PREFIX = "configmap:"
CONFIGMAP_KEY = "policy.yaml"   # the key `scalelab promote --to configmap:NS/NAME` writes
KINDS = {"deployment": "deployment", "deployments": "deployment", "deploy": "deployment",
         "statefulset": "statefulset", "statefulsets": "statefulset", "sts": "statefulset"}
API_KINDS = {"deployment": "Deployment", "statefulset": "StatefulSet"}
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


@dataclass(frozen=True)
class TargetRef:
    """A scalable workload: ``namespace/kind/name`` with kind ``deployment`` or ``statefulset``."""

    namespace: str
    kind: str
    name: str

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.kind}/{self.name}"

    @property
    def api_kind(self) -> str:
        return API_KINDS[self.kind]

    def __str__(self) -> str:
        return self.id

    @classmethod
    def parse(cls, text: Any) -> "TargetRef":
        """``shop/deployment/web`` (kinds: deployment|deploy|statefulset|sts, any case); ValueError."""
        if not isinstance(text, str) or text.count("/") != 2:
            raise ValueError(f"expected NAMESPACE/KIND/NAME (e.g. shop/deployment/web), got {text!r}")
        namespace, kind, name = text.split("/")
        canonical = KINDS.get(kind.lower())
        if canonical is None:
            raise ValueError(f"{text!r}: kind must be deployment or statefulset, got {kind!r}")
        if not _DNS_LABEL.match(namespace) or len(namespace) > 63:
            raise ValueError(f"{text!r}: namespace {namespace!r} is not a valid Kubernetes namespace name")
        if not _DNS_SUBDOMAIN.match(name) or len(name) > 253:
            raise ValueError(f"{text!r}: name {name!r} is not a valid Kubernetes object name")
        return cls(namespace, canonical, name)


@dataclass(frozen=True)
class LockSpec:
    """``lease`` (Kubernetes Lease per target), ``redis://[:PASSWORD@]HOST:PORT/KEY`` or ``none``."""

    backend: str = "lease"
    host: str = ""
    port: int = 6379
    key: str = "scalelab-controller"
    password: str | None = None
    ttl: float = 15.0          # lease duration / redis key TTL
    renew: float = 5.0         # heartbeat period

    @classmethod
    def parse(cls, text: Any, **timers: float) -> "LockSpec":
        if not isinstance(text, str) or not text:
            raise ValueError(f"expected lease, none or redis://HOST:PORT/KEY, got {text!r}")
        if text in ("lease", "none"):
            return cls(text, **timers)
        if not text.startswith("redis://"):
            raise ValueError(f"expected lease, none or redis://HOST:PORT/KEY, got {text!r}")
        parts = urlsplit(text)
        try:
            port = parts.port or 6379
        except ValueError:
            raise ValueError(f"{text!r}: invalid port") from None
        key = unquote(parts.path.lstrip("/"))
        if not parts.hostname or not key:
            raise ValueError(f"{text!r}: expected redis://HOST:PORT/KEY (KEY prefixes each target's lock key)")
        password = unquote(parts.password) if parts.password else None
        return cls("redis", parts.hostname, port, key, password, **timers)

    def describe(self) -> str:
        if self.backend == "redis":
            return f"redis://{self.host}:{self.port}/{self.key}"
        return self.backend


@dataclass(frozen=True)
class Fallback:
    """KEDA-style: after ``failure_threshold`` consecutive failed observations, run at least
    ``replicas`` (never a scale-down; bounds and step limits still apply)."""

    failure_threshold: int
    replicas: int


@dataclass(frozen=True)
class TargetConfig:
    ref: TargetRef
    policy: str                     # a file path or configmap:NS/NAME
    bindings: str                   # a MetricBindings file
    shadows: tuple[str, ...] = ()
    min_interval: float = 60.0      # shell guard: at most one change per target per this many seconds
    max_age: float | None = None    # staleness: None = 2 x interval; 0 = not checked
    fallback: Fallback | None = None


@dataclass(frozen=True)
class Settings:
    targets: tuple[TargetConfig, ...]
    prometheus_url: str
    prometheus_timeout: float = 5.0
    prometheus_retries: int = 1
    kubeconfig: str | None = None
    lock: LockSpec = field(default_factory=LockSpec)
    identity: str = ""
    dry_run: bool = False
    once: bool = False
    interval: float = 15.0
    metrics_port: int = 0
    metrics_address: str = "0.0.0.0"
    decision_log: str = "-"
    fsync: bool = False
    breaker_failures: int = 3
    breaker_cooloff: float = 60.0
    api_timeout: float = 5.0
    api_retries: int = 2
    conflict_retries: int = 5
    workers: int = 4

    def max_age(self, target: TargetConfig) -> float:
        return 2.0 * self.interval if target.max_age is None else target.max_age


def default_identity() -> str:
    """``$POD_NAME`` in a cluster (downward API), else ``hostname-pid``."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


# ------------------------------------------------------------------------------- the config file

_SPEC_KEYS = ("prometheus", "kubeconfig", "lock", "identity", "dryRun", "interval", "minInterval", "maxAge",
              "fallback", "metricsPort", "metricsAddress", "decisionLog", "fsync", "breaker", "api", "workers",
              "targets")
_TARGET_KEYS = ("target", "policy", "bindings", "shadow", "minInterval", "maxAge", "fallback")


def _resolve(base: Path, value: str) -> str:
    if value.startswith(CONFIGMAP_PREFIX) or value == "-" or Path(value).is_absolute():
        return value
    return str(base / value)


def _fallback(r: schema.Reader, value: Any, path: str) -> Fallback | None:
    if value is None:
        return None
    f = r.mapping(value, path, ("failureThreshold", "replicas"), required=("failureThreshold", "replicas"))
    threshold = r.number(f, "failureThreshold", path, 3, minimum=1, integer=True)
    replicas = r.number(f, "replicas", path, 1, minimum=0, integer=True)
    return Fallback(int(threshold), int(replicas))


def _policy_ref(r: schema.Reader, parent: dict, key: str, path: str, base: Path) -> str:
    text = r.string(parent, key, path, "")
    if not text:
        return ""
    if text.startswith(CONFIGMAP_PREFIX):
        try:
            configmap_ref(text)
        except ValueError as exc:
            r.error(schema.join(path, key), str(exc))
    return _resolve(base, text)


def read_file(path: str) -> dict[str, Any]:
    """Parse a ControllerConfig file into keyword values for ``build`` (``targets`` as TargetConfigs)."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise errors.UserError(f"{path}: cannot read config: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise errors.UserError(f"{path}: not a text file") from None
    base = Path(path).resolve().parent
    doc, lines = schema.parse_yaml(text, path)
    r = schema.Reader(path, lines)
    doc = r.mapping(doc, "", ("apiVersion", "kind", "metadata", "spec"), required=("kind", "spec"))
    if doc.get("apiVersion", API_VERSION) != API_VERSION:
        r.error("apiVersion", f"unsupported apiVersion {doc['apiVersion']!r} (expected {API_VERSION})")
    if "kind" in doc and doc["kind"] != KIND:
        r.error("kind", f"expected kind {KIND}, got {doc['kind']!r}")
    r.mapping(doc.get("metadata", {}), "metadata", ("name", "description", "labels"))
    s = r.mapping(doc.get("spec", {}), "spec", _SPEC_KEYS, required=("targets",))
    out: dict[str, Any] = {}
    p = "spec"
    if "prometheus" in s:
        prom = s["prometheus"]
        if isinstance(prom, str):
            out["prometheus_url"] = prom
        else:
            pm = r.mapping(prom, f"{p}.prometheus", ("url", "timeout", "retries"), required=("url",))
            out["prometheus_url"] = r.string(pm, "url", f"{p}.prometheus", "")
            if "timeout" in pm:
                out["prometheus_timeout"] = schema.duration(r, pm, "timeout", f"{p}.prometheus", positive=True)
            if "retries" in pm:
                out["prometheus_retries"] = r.number(pm, "retries", f"{p}.prometheus", minimum=0, maximum=10,
                                                     integer=True)
    if "kubeconfig" in s:
        out["kubeconfig"] = _resolve(base, r.string(s, "kubeconfig", p, ""))
    if "lock" in s:
        lock = s["lock"]
        if isinstance(lock, str):
            out["lock"] = lock
        else:
            lm = r.mapping(lock, f"{p}.lock", ("backend", "ttl", "renew"), required=("backend",))
            out["lock"] = r.string(lm, "backend", f"{p}.lock", "lease")
            for key in ("ttl", "renew"):
                if key in lm:
                    out[f"lock_{key}"] = schema.duration(r, lm, key, f"{p}.lock", positive=True)
    for key, name in (("identity", "identity"), ("metricsAddress", "metrics_address")):
        if key in s:
            out[name] = r.string(s, key, p, "")
    if "decisionLog" in s:
        out["decision_log"] = _resolve(base, r.string(s, "decisionLog", p, "-"))
    for key, name in (("dryRun", "dry_run"), ("fsync", "fsync")):
        if key in s:
            out[name] = r.boolean(s, key, p, False)
    for key, name in (("interval", "interval"), ("minInterval", "min_interval")):
        if key in s:
            out[name] = schema.duration(r, s, key, p, positive=key == "interval")
    if "maxAge" in s:
        out["max_age"] = schema.duration(r, s, "maxAge", p)
    if "metricsPort" in s:
        out["metrics_port"] = r.number(s, "metricsPort", p, minimum=0, maximum=65535, integer=True)
    if "workers" in s:
        out["workers"] = r.number(s, "workers", p, minimum=1, maximum=64, integer=True)
    if "fallback" in s:
        out["fallback"] = _fallback(r, s["fallback"], f"{p}.fallback")
    if "breaker" in s:
        bm = r.mapping(s["breaker"], f"{p}.breaker", ("failures", "coolOff"))
        if "failures" in bm:
            out["breaker_failures"] = r.number(bm, "failures", f"{p}.breaker", minimum=1, maximum=100, integer=True)
        if "coolOff" in bm:
            out["breaker_cooloff"] = schema.duration(r, bm, "coolOff", f"{p}.breaker", positive=True)
    if "api" in s:
        am = r.mapping(s["api"], f"{p}.api", ("timeout", "retries"))
        if "timeout" in am:
            out["api_timeout"] = schema.duration(r, am, "timeout", f"{p}.api", positive=True)
        if "retries" in am:
            out["api_retries"] = r.number(am, "retries", f"{p}.api", minimum=0, maximum=10, integer=True)

    targets: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    items = r.seq(s.get("targets", []), f"{p}.targets", min_items=1)
    for i, item in enumerate(items):
        tp = f"{p}.targets[{i}]"
        t = r.mapping(item, tp, _TARGET_KEYS, required=("target", "policy", "bindings"))
        entry: dict[str, Any] = {}
        raw = r.string(t, "target", tp, "")
        if raw:
            try:
                ref = TargetRef.parse(raw)
                if ref.id in seen:
                    r.error(schema.join(tp, "target"), f"duplicate target {ref.id} (also at {seen[ref.id]})")
                seen[ref.id] = tp
                entry["ref"] = ref
            except ValueError as exc:
                r.error(schema.join(tp, "target"), str(exc))
        entry["policy"] = _policy_ref(r, t, "policy", tp, base)
        bindings = r.string(t, "bindings", tp, "")
        entry["bindings"] = _resolve(base, bindings) if bindings else ""
        shadows = t.get("shadow", [])
        if isinstance(shadows, str):
            shadows = [shadows]
        shadow_list = r.seq(shadows, schema.join(tp, "shadow"))
        entry["shadows"] = tuple(_policy_ref(r, {"s": v}, "s", schema.join(tp, f"shadow[{j}]"), base)
                                 for j, v in enumerate(shadow_list))
        if "minInterval" in t:
            entry["min_interval"] = schema.duration(r, t, "minInterval", tp)
        if "maxAge" in t:
            entry["max_age"] = schema.duration(r, t, "maxAge", tp)
        if "fallback" in t:
            entry["fallback"] = _fallback(r, t["fallback"], schema.join(tp, "fallback"))
        targets.append(entry)
    r.finish()
    out["targets"] = targets
    return out


def configmap_ref(text: str) -> tuple[str, str]:
    """``configmap:NS/NAME`` -> (NS, NAME); ValueError otherwise."""
    where = text[len(CONFIGMAP_PREFIX):]
    if where.count("/") != 1 or not all(where.split("/")):
        raise ValueError(f"{text!r}: expected configmap:NAMESPACE/NAME")
    ns, name = where.split("/")
    if not _DNS_LABEL.match(ns) or not _DNS_SUBDOMAIN.match(name):
        raise ValueError(f"{text!r}: not a valid namespace/name")
    return ns, name


# ------------------------------------------------------------------------------------- building

_DEFAULTS = {"prometheus_timeout": 5.0, "prometheus_retries": 1, "kubeconfig": None, "lock": "lease",
             "lock_ttl": 15.0, "lock_renew": 5.0, "identity": None, "dry_run": False, "once": False,
             "interval": 15.0, "min_interval": 60.0, "max_age": None, "fallback": None, "metrics_port": 0,
             "metrics_address": "0.0.0.0", "decision_log": "-", "fsync": False, "breaker_failures": 3,
             "breaker_cooloff": 60.0, "api_timeout": 5.0, "api_retries": 2, "workers": 4}


def build(flags: Mapping[str, Any], config_path: str | None = None) -> Settings:
    """Settings from explicitly given flags (``None`` = not given) over the config file over defaults."""
    from_file = read_file(config_path) if config_path else {}
    given = {k: v for k, v in flags.items() if v is not None and v != ()}

    def pick(name: str) -> Any:
        if name in given:
            return given[name]
        return from_file.get(name, _DEFAULTS.get(name))

    flag_target = any(k in given for k in ("target", "policy", "bindings", "shadows"))
    if config_path and flag_target:
        raise errors.UserError("give targets either in --config or with --target/--policy/--bindings, not both")
    url = pick("prometheus_url")
    if not url:
        raise errors.UserError("missing --prometheus URL (or spec.prometheus in --config)")
    if not re.match(r"^https?://[^/\s]+", url):
        raise errors.UserError(f"--prometheus {url!r}: expected http://HOST:PORT or https://HOST:PORT")
    interval = float(pick("interval"))
    for name, value in (("--interval", interval), ("--api-timeout", pick("api_timeout")),
                        ("--prometheus-timeout", pick("prometheus_timeout")), ("--lock-ttl", pick("lock_ttl")),
                        ("--lock-renew", pick("lock_renew")), ("--breaker-cooloff", pick("breaker_cooloff"))):
        if not float(value) > 0:
            raise errors.UserError(f"{name}: must be > 0 seconds, got {value!r}")
    for name, value in (("--min-interval", pick("min_interval")), ("--max-age", pick("max_age"))):
        if value is not None and float(value) < 0:
            raise errors.UserError(f"{name}: must be >= 0 seconds, got {value!r}")
    ttl, renew = float(pick("lock_ttl")), float(pick("lock_renew"))
    if renew >= ttl:
        raise errors.UserError(f"--lock-renew ({renew:g}s) must be shorter than --lock-ttl ({ttl:g}s)")
    try:
        lock = LockSpec.parse(pick("lock"), ttl=ttl, renew=renew)
    except ValueError as exc:
        raise errors.UserError(f"--lock: {exc}") from None
    port = int(pick("metrics_port"))
    if not 0 <= port <= 65535:
        raise errors.UserError(f"--metrics-port: expected 0..65535, got {port}")

    fallback = pick("fallback")
    if isinstance(fallback, tuple):     # from flags: (threshold, replicas)
        fallback = Fallback(*fallback)
    defaults = {"min_interval": float(pick("min_interval")), "max_age": pick("max_age"), "fallback": fallback}
    if config_path:
        targets = []
        for entry in from_file["targets"]:
            merged = {**defaults, **{k: v for k, v in entry.items() if v is not None}}
            targets.append(TargetConfig(**merged))
    else:
        missing = [f for f, k in (("--target", "target"), ("--policy", "policy"), ("--bindings", "bindings"))
                   if k not in given]
        if missing:
            raise errors.UserError(f"missing {', '.join(missing)} (or give --config FILE listing targets)")
        try:
            ref = TargetRef.parse(given["target"])
        except ValueError as exc:
            raise errors.UserError(f"--target: {exc}") from None
        for ref_text in (given["policy"], *given.get("shadows", ())):
            if ref_text.startswith(CONFIGMAP_PREFIX):
                try:
                    configmap_ref(ref_text)
                except ValueError as exc:
                    raise errors.UserError(f"--policy: {exc}") from None
        targets = [TargetConfig(ref=ref, policy=given["policy"], bindings=given["bindings"],
                                shadows=tuple(given.get("shadows", ())), **defaults)]
    identity = pick("identity") or default_identity()
    return Settings(targets=tuple(targets), prometheus_url=url, prometheus_timeout=float(pick("prometheus_timeout")),
                    prometheus_retries=int(pick("prometheus_retries")), kubeconfig=pick("kubeconfig"), lock=lock,
                    identity=identity, dry_run=bool(pick("dry_run")), once=bool(pick("once")), interval=interval,
                    metrics_port=port, metrics_address=pick("metrics_address"), decision_log=pick("decision_log"),
                    fsync=bool(pick("fsync")), breaker_failures=int(pick("breaker_failures")),
                    breaker_cooloff=float(pick("breaker_cooloff")), api_timeout=float(pick("api_timeout")),
                    api_retries=int(pick("api_retries")), workers=int(pick("workers")))


def single(target: str, policy: str, bindings: str, prometheus_url: str, **options: Any) -> Settings:
    """Settings for one target in code (tests, the bench), validated like the flags."""
    flags = {"target": target, "policy": policy, "bindings": bindings, "prometheus_url": prometheus_url}
    shadows = options.pop("shadows", ())
    return build({**flags, "shadows": tuple(shadows), **options})
