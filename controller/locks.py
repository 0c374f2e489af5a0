"""Distributed locks so that two controller replicas never act on the same target.

One lock per target behind one small Protocol (``Lock``); the backends:

* ``LeaseLock`` -- a ``coordination.k8s.io/v1`` Lease named ``scalelab-<kind>-<name>`` in the
  target's namespace, written here (not ``LeaderElection.run``): ``acquire`` creates the Lease,
  renews it while we hold it, or takes it over once it is free or expired, every write a
  resourceVersion-guarded replace (a lost race is a 409, never two holders). Expiry is judged as
  client-go does: by how long *we* have seen the same record unchanged (our monotonic clock), not
  by comparing clocks with the holder. ``release`` clears ``holderIdentity`` (duration 1 s).
* ``RedisLock`` -- redis-py ``Lock`` (``thread_local=False``) on key ``<KEY>:<ns>/<kind>/<name>``
  with a TTL; renewed with ``extend(ttl, replace_ttl=True)``; the token is ``identity:uuid``. No
  fencing tokens: ownership is re-checked (``owned()``) right before every write.
* ``NoLock`` -- always held (one replica, or tests).

Every method is non-blocking, never raises, and is safe to call from the loop's workers and the
heartbeat thread at once. ``epoch`` counts acquisitions: when it moves, the target's policy
state is reset (another replica may have acted meanwhile). An API or Redis error counts as "not
held" once the last successful renewal is older than the TTL (fail safe: no action without
the lock), and ``confirm`` (the check right before acting) fails on any error.
"""

from __future__ import annotations

import datetime as _dt
import math
import threading
import time
import uuid
from typing import Any, Callable, Protocol

from controller.config import LockSpec, TargetRef


class Lock(Protocol):
    name: str
    holder: str          # the last holder we saw ("" = free / unknown)
    error: str           # the last backend error ("" = none)
    epoch: int           # acquisitions so far

    @property
    def held(self) -> bool: ...
    def acquire(self) -> bool: ...
    def renew(self) -> bool: ...
    def confirm(self) -> bool: ...
    def release(self) -> None: ...


class NoLock:
    """``--lock none``: every replica acts (run exactly one)."""

    def __init__(self, name: str = "none"):
        self.name, self.holder, self.error, self.epoch = name, "", "", 1

    @property
    def held(self) -> bool:
        return True

    def acquire(self) -> bool:
        return True

    def renew(self) -> bool:
        return True

    def confirm(self) -> bool:
        return True

    def release(self) -> None:
        pass


def lease_name(ref: TargetRef) -> str:
    return f"scalelab-{ref.kind}-{ref.name}"[:253].rstrip("-.")


class LeaseLock:
    def __init__(self, api_client: Any, namespace: str, name: str, identity: str, ttl: float, *,
                 timeout: float = 5.0, clock: Callable[[], float] = time.monotonic):
        from kubernetes import client

        self.api = client.CoordinationV1Api(api_client)
        self.namespace, self.name, self.identity = namespace, name, identity
        self.duration = max(1, math.ceil(ttl))
        self.timeout, self._clock = timeout, clock
        self.holder, self.error, self.epoch = "", "", 0
        self._mu = threading.Lock()
        self._held_until = -math.inf        # our monotonic deadline for the current holding
        self._lease: Any = None             # the last lease object we read or wrote
        self._observed: tuple[str, float] | None = None  # (resourceVersion, when we first saw it)

    @property
    def held(self) -> bool:
        return self._clock() < self._held_until

    # -- API helpers --------------------------------------------------------------------------
    def _read(self) -> Any:
        return self.api.read_namespaced_lease(self.name, self.namespace, _request_timeout=self.timeout)

    def _body(self, holder: str | None, *, acquire: bool, rv: str | None, transitions: int | None,
              duration: int | None = None) -> Any:
        from kubernetes import client

        now = _dt.datetime.now(_dt.timezone.utc)
        previous = self._lease.spec if self._lease is not None and self._lease.spec is not None else None
        return client.V1Lease(
            metadata=client.V1ObjectMeta(name=self.name, namespace=self.namespace, resource_version=rv),
            spec=client.V1LeaseSpec(holder_identity=holder, lease_duration_seconds=duration or self.duration,
                                    acquire_time=now if acquire else (previous.acquire_time if previous else now),
                                    renew_time=now, lease_transitions=transitions))

    def _won(self, lease: Any, started: float) -> bool:
        self._lease = lease
        self._observed = (lease.metadata.resource_version, started)
        was_held = self.held
        self._held_until = started + self.duration
        self.holder, self.error = self.identity, ""
        if not was_held:
            self.epoch += 1
        return True

    def _lost(self, lease: Any | None) -> bool:
        self._held_until = -math.inf
        if lease is not None:
            self._lease = lease
            self.holder = (lease.spec.holder_identity if lease.spec else "") or ""
        return False

    def _lost_race(self) -> bool:
        """Another replica wrote first (409): look who holds it now (for the log), never retry."""
        try:
            lease = self._read()
        except Exception:
            lease = None
        if lease is not None:
            self._expired(lease, self._clock())   # start timing the winner's record
        return self._lost(lease)

    def _expired(self, lease: Any, now: float) -> bool:
        holder = (lease.spec.holder_identity if lease.spec else None) or ""
        if not holder:
            return True
        rv = lease.metadata.resource_version
        if self._observed is None or self._observed[0] != rv:
            self._observed = (rv, now)
            return False
        duration = (lease.spec.lease_duration_seconds or self.duration)
        return now >= self._observed[1] + duration

    # -- the Protocol -------------------------------------------------------------------------
    def acquire(self) -> bool:
        from kubernetes.client.exceptions import ApiException

        with self._mu:
            started = self._clock()
            try:
                if self.held and self._lease is not None:   # renew straight away with the version we wrote
                    try:
                        return self._renew(started)
                    except ApiException as exc:
                        if exc.status not in (404, 409):   # changed or deleted behind our back: look again
                            raise
                        self._held_until = -math.inf
                try:
                    lease = self._read()
                except ApiException as exc:
                    if exc.status != 404:
                        raise
                    return self._create(started)
                holder = (lease.spec.holder_identity if lease.spec else None) or ""
                if holder == self.identity:
                    self._lease = lease
                    return self._renew(started)
                if not self._expired(lease, started):
                    return self._lost(lease)
                transitions = ((lease.spec.lease_transitions or 0) if lease.spec else 0) + 1
                self._lease = lease
                taken = self.api.replace_namespaced_lease(
                    self.name, self.namespace, self._body(self.identity, acquire=True,
                                                          rv=lease.metadata.resource_version,
                                                          transitions=transitions),
                    _request_timeout=self.timeout)
                return self._won(taken, started)
            except ApiException as exc:
                if exc.status == 409:
                    return self._lost_race()
                self.error = f"lease {self.namespace}/{self.name}: HTTP {exc.status} {exc.reason or ''}".strip()
                return self.held
            except Exception as exc:  # timeouts, connection errors
                self.error = f"lease {self.namespace}/{self.name}: {type(exc).__name__}"
                return self.held

    def _create(self, started: float) -> bool:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        now = _dt.datetime.now(_dt.timezone.utc)
        body = client.V1Lease(metadata=client.V1ObjectMeta(name=self.name, namespace=self.namespace),
                              spec=client.V1LeaseSpec(holder_identity=self.identity,
                                                      lease_duration_seconds=self.duration, acquire_time=now,
                                                      renew_time=now, lease_transitions=0))
        try:
            created = self.api.create_namespaced_lease(self.namespace, body, _request_timeout=self.timeout)
        except ApiException as exc:
            if exc.status == 409:       # someone created it first
                return self._lost_race()
            raise
        return self._won(created, started)

    def _renew(self, started: float) -> bool:
        spec = self._lease.spec
        body = self._body(self.identity, acquire=False, rv=self._lease.metadata.resource_version,
                          transitions=spec.lease_transitions if spec else 0)
        renewed = self.api.replace_namespaced_lease(self.name, self.namespace, body, _request_timeout=self.timeout)
        return self._won(renewed, started)

    def renew(self) -> bool:
        if not self.held:
            return False
        return self.acquire()

    def confirm(self) -> bool:
        with self._mu:
            if not self.held:
                return False
            try:
                lease = self._read()
            except Exception as exc:
                self.error = f"lease {self.namespace}/{self.name}: cannot confirm ownership ({type(exc).__name__})"
                return False
            holder = (lease.spec.holder_identity if lease.spec else None) or ""
            if holder != self.identity:
                return self._lost(lease)
            return True

    def release(self) -> None:
        from kubernetes.client.exceptions import ApiException

        with self._mu:
            if not self.held or self._lease is None:
                self._held_until = -math.inf
                return
            lease = self._lease
            for _ in range(2):
                try:
                    spec = lease.spec
                    body = self._body(None, acquire=True, rv=lease.metadata.resource_version,
                                      transitions=spec.lease_transitions if spec else 0, duration=1)
                    self.api.replace_namespaced_lease(self.name, self.namespace, body, _request_timeout=self.timeout)
                    break
                except ApiException as exc:
                    if exc.status != 409:
                        break
                    try:
                        lease = self._read()
                    except Exception:
                        break
                    if ((lease.spec.holder_identity if lease.spec else None) or "") != self.identity:
                        break
                except Exception:
                    break
            self._held_until = -math.inf
            self.holder = ""


class RedisLock:
    def __init__(self, redis_client: Any, key: str, identity: str, ttl: float, *,
                 clock: Callable[[], float] = time.monotonic):
        self.redis, self.name, self.identity, self.ttl = redis_client, key, identity, ttl
        self._lock = redis_client.lock(key, timeout=ttl, blocking=False, thread_local=False)
        self.holder, self.error, self.epoch = "", "", 0
        self._clock = clock
        self._held_until = -math.inf
        self._mu = threading.Lock()

    @property
    def held(self) -> bool:
        return self._clock() < self._held_until

    def _who(self) -> str:
        try:
            value = self.redis.get(self.name)
        except Exception:
            return ""
        text = value.decode(errors="replace") if isinstance(value, bytes) else (value or "")
        return text.rsplit(":", 1)[0]

    def acquire(self) -> bool:
        from redis.exceptions import LockError, RedisError

        with self._mu:
            started = self._clock()
            try:
                if self.held:
                    try:
                        self._lock.extend(self.ttl, replace_ttl=True)
                        self._held_until = started + self.ttl
                        self.error = ""
                        return True
                    except LockError:        # expired, deleted or stolen: try to take it afresh
                        self._held_until = -math.inf
                if self._lock.acquire(blocking=False, token=f"{self.identity}:{uuid.uuid4().hex}"):
                    self._held_until = started + self.ttl
                    self.holder, self.error = self.identity, ""
                    self.epoch += 1
                    return True
                self.holder = self._who()
                return False
            except RedisError as exc:
                self.error = f"redis {self.name}: {type(exc).__name__}: {exc}"
                return self.held

    def renew(self) -> bool:
        if not self.held:
            return False
        return self.acquire()

    def confirm(self) -> bool:
        with self._mu:
            if not self.held:
                return False
            try:
                if self._lock.owned():
                    return True
            except Exception as exc:
                self.error = f"redis {self.name}: cannot confirm ownership ({type(exc).__name__})"
                return False
            self._held_until = -math.inf
            self.holder = self._who()
            return False

    def release(self) -> None:
        with self._mu:
            if self.held:
                try:
                    self._lock.release()
                except Exception:
                    pass
            self._held_until = -math.inf
            self.holder = ""


def redis_client(spec: LockSpec, timeout: float) -> Any:
    """A client for ``spec``; the password comes from the URL or ``$SCALELAB_REDIS_PASSWORD``."""
    import os

    import redis

    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    password = spec.password or os.environ.get("SCALELAB_REDIS_PASSWORD") or None
    # one quick retry: a lock that cannot be checked is "not held", and 500 targets must not wait
    # for redis-py's default multi-second backoff when Redis is down
    return redis.Redis(host=spec.host, port=spec.port, password=password, socket_timeout=timeout,
                       socket_connect_timeout=timeout, retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), 1))


def make_lock(spec: LockSpec, ref: TargetRef, identity: str, *, api_client: Any = None, redis: Any = None,
              timeout: float = 5.0) -> Lock:
    if spec.backend == "none":
        return NoLock()
    if spec.backend == "lease":
        return LeaseLock(api_client, ref.namespace, lease_name(ref), identity, spec.ttl, timeout=timeout)
    if spec.backend == "redis":
        return RedisLock(redis, f"{spec.key}:{ref.id}", identity, spec.ttl)
    raise ValueError(f"unknown lock backend {spec.backend!r}")
