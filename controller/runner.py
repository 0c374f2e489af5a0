"""The controller process: targets on a timer, worker threads, lock heartbeat, reload, shutdown.

``Controller(settings)`` wires everything from ``config.Settings``; ``run()`` loops until ``stop()``
(the CLI calls it from SIGTERM/SIGINT) or, with ``once``, for one loop. One loop:

1. poll every policy source (hot reload; a swap resets the state of the targets that run it);
2. reconcile every target (``loop.reconcile``) on ``workers`` threads, each with its own
   ``now`` (wall clock, epoch seconds: what the decision log records and ``parity`` replays);
3. record ``autoscaler_loop_duration_seconds``; the first finished loop makes ``/readyz`` ready.

Loops start every ``interval`` seconds (a loop that overruns starts the next one at once; missed
loops are not made up). A heartbeat thread renews held locks every ``lock.renew`` seconds, so the
lock does not lapse between loops whatever the interval. Shutdown (``stop``): the loop in
progress finishes the API call in flight (each has ``api_timeout``), starts no new write and no
new target, then ``close`` releases every lock, stops the HTTP server and flushes the log.
``--dry-run`` never takes a lock (it never writes, so it may run next to a live controller).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from controller import act, breaker as _breaker, decision_log, locks, loop, observe, reload, telemetry
from controller.config import Settings
from workbench.core import errors
from workbench.sources import bindings as _bindings
from workbench.sources import prometheus as _prometheus

log = logging.getLogger("scalelab.controller")


def kube_api_client(kubeconfig: str | None, *, pool: int = 8) -> Any:
    """An ApiClient from ``--kubeconfig`` or the in-cluster service account (urllib3 retries off:
    the controller retries itself)."""
    from kubernetes import client, config as kconfig

    cfg = client.Configuration()
    try:
        if kubeconfig:
            kconfig.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
        elif os.environ.get("KUBERNETES_SERVICE_HOST"):
            kconfig.load_incluster_config(client_configuration=cfg)
        else:
            raise errors.UserError("no --kubeconfig given and not running in a cluster (KUBERNETES_SERVICE_HOST "
                                   "is not set)")
    except (kconfig.ConfigException, OSError, ValueError, TypeError) as exc:
        where = kubeconfig or "in-cluster config"
        raise errors.UserError(f"{where}: cannot load Kubernetes configuration: {str(exc).splitlines()[0]}") from None
    cfg.retries = False
    cfg.connection_pool_maxsize = pool
    return client.ApiClient(cfg)


class Controller:
    def __init__(self, settings: Settings, *, api_client: Any = None, redis_client: Any = None,
                 sink: Any = None, registry: Any = None, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.clock = clock
        self._stop = threading.Event()
        self._closed = False
        self.loops = 0
        self.telemetry = telemetry.Telemetry(registry)
        self.api_client = api_client if api_client is not None else kube_api_client(
            settings.kubeconfig, pool=max(8, settings.workers * 2 + 2))
        self.actor = act.ScaleExecutor(self.api_client, timeout=settings.api_timeout, retries=settings.api_retries,
                                       identity=settings.identity)
        from kubernetes import client

        self.core_api = client.CoreV1Api(self.api_client)
        self.prometheus_options = _prometheus.Options(
            settings.prometheus_url, timeout=settings.prometheus_timeout, retries=settings.prometheus_retries,
            backoff_seconds=0.2, max_retry_seconds=settings.prometheus_timeout)
        self._tls = threading.local()
        self._sources: list[_prometheus.PrometheusSource] = []
        self._sources_lock = threading.Lock()
        self.outage = observe.Outage()

        self.watchers: dict[str, reload.PolicyWatcher] = {}
        for target in settings.targets:
            for ref in (target.policy, *target.shadows):
                if ref not in self.watchers:
                    source = reload.PolicySource(ref, self.core_api, settings.api_timeout)
                    watcher = reload.PolicyWatcher(source, self._validator(ref))
                    watcher.load()
                    self.watchers[ref] = watcher

        if settings.lock.backend == "redis" and redis_client is None and not settings.dry_run:
            redis_client = locks.redis_client(settings.lock, settings.api_timeout)
        self.redis = redis_client
        self.targets: list[loop.TargetRuntime] = []
        for target in settings.targets:
            bound = _bindings.load_bindings(target.bindings)
            primary = loop.Slot(self.watchers[target.policy].current)
            shadows = [loop.Slot(self.watchers[ref].current, shadow=True) for ref in target.shadows]
            lock = locks.NoLock() if settings.dry_run else locks.make_lock(
                settings.lock, target.ref, settings.identity, api_client=self.api_client, redis=self.redis,
                timeout=settings.api_timeout)
            rt = loop.TargetRuntime(config=target, primary=primary, shadows=shadows, observer=None, lock=lock,
                                    breaker=_breaker.Breaker(settings.breaker_failures, settings.breaker_cooloff),
                                    min_interval=target.min_interval, fallback=target.fallback)
            rt.observer = observe.PromObserver(bound, rt.metrics_needed(), settings.max_age(target), self._source,
                                               self.outage)
            self.targets.append(rt)
            self.telemetry.circuit.labels(rt.id).set(0)
            self.telemetry.lock_held.labels(rt.id).set(0)

        self.sink = sink if sink is not None else decision_log.DecisionLog(settings.decision_log, fsync=settings.fsync)
        self.ctx = loop.Context(actor=self.actor, log=self.sink.write, telemetry=self.telemetry,
                                dry_run=settings.dry_run, identity=settings.identity,
                                conflict_retries=settings.conflict_retries, stopping=self._stop.is_set)
        self.server = None
        if settings.metrics_port:
            self.server = telemetry.HealthServer(self.telemetry, settings.metrics_address, settings.metrics_port,
                                                 self.ready)
        workers = min(settings.workers, len(self.targets))
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="reconcile") if workers > 1 else None
        self._heartbeat: threading.Thread | None = None

    # -- wiring -------------------------------------------------------------------------------
    def _source(self) -> _prometheus.PrometheusSource:
        source = getattr(self._tls, "source", None)
        if source is None:
            source = _prometheus.PrometheusSource(self.prometheus_options)
            self._tls.source = source
            with self._sources_lock:
                self._sources.append(source)
        return source

    def _validator(self, ref: str) -> Callable[[reload.LoadedPolicy], None]:
        def validate(policy: reload.LoadedPolicy) -> None:
            for rt in getattr(self, "targets", ()):
                slots = [s for s, r in zip(rt.slots(), (rt.config.policy, *rt.config.shadows)) if r == ref]
                if not slots:
                    continue
                bound = rt.observer.bindings.templates
                missing = sorted(n for n in policy.metrics_needed() if n not in bound)
                if missing:
                    raise errors.UserError(f"{policy.source}: metric {', '.join(map(repr, missing))} has no binding "
                                           f"in {rt.observer.bindings.source} (target {rt.id})")
        return validate

    def ready(self) -> bool:
        return self.loops > 0 and not self._closed

    # -- the loop -----------------------------------------------------------------------------
    def reload(self) -> None:
        for ref, watcher in self.watchers.items():
            try:
                policy, error = watcher.poll()
            except Exception as exc:  # never let a reload bug stop the loop: keep the running policy
                log.exception("policy reload from %s failed unexpectedly", ref)
                policy, error = None, f"{type(exc).__name__}: {exc}"
            if error is not None:
                self.telemetry.reloads.labels("error").inc()
                log.error("policy reload rejected, keeping %s (hash %s): %s", watcher.current.name,
                          watcher.current.hash, error)
            if policy is None:
                continue
            self.telemetry.reloads.labels("success").inc()
            log.warning("policy reloaded from %s: %s (hash %s); policy state reset", ref, policy.name, policy.hash)
            for rt in self.targets:
                for slot, slot_ref in zip(rt.slots(), (rt.config.policy, *rt.config.shadows)):
                    if slot_ref == ref:
                        slot.policy = policy
                        slot.reset("policy reloaded")
                rt.observer.set_names(rt.metrics_needed())

    def _reconcile(self, rt: loop.TargetRuntime) -> list[dict]:
        if self._stop.is_set():
            return []
        try:
            return loop.reconcile(rt, self.clock(), self.ctx)
        except Exception:  # a bug: keep the other targets running
            log.exception("reconcile of %s failed unexpectedly", rt.id)
            return []

    def run_once(self) -> list[dict]:
        """One loop over every target; returns the decision-log entries written."""
        started = time.perf_counter()
        self.outage.reset()
        self.reload()
        if self._pool is None:
            results = [self._reconcile(rt) for rt in self.targets]
        else:
            results = list(self._pool.map(self._reconcile, self.targets))
        self.telemetry.loop_duration.observe(time.perf_counter() - started)
        self.loops += 1
        return [entry for entries in results for entry in entries]

    def _beat(self) -> None:
        period = self.settings.lock.renew
        while not self._stop.wait(period):
            for rt in self.targets:
                if rt.lock.held:
                    held = rt.lock.renew()
                    self.telemetry.lock_held.labels(rt.id).set(1 if held else 0)
                    if not held:
                        log.warning("lost the lock for %s (holder: %s)", rt.id, rt.lock.holder or "unknown")

    def run(self) -> int:
        """Loop until ``stop()`` (or once); always ``close()``. Returns the exit code (0)."""
        log.info("controller %s: %d target(s), lock %s%s, every %gs", self.settings.identity, len(self.targets),
                 self.settings.lock.describe(), ", dry run" if self.settings.dry_run else "", self.settings.interval)
        if not self.settings.dry_run and self.settings.lock.backend != "none" and not self.settings.once:
            self._heartbeat = threading.Thread(target=self._beat, name="lock-heartbeat", daemon=True)
            self._heartbeat.start()
        try:
            next_at = time.monotonic()
            while not self._stop.is_set():
                self.run_once()
                if self.settings.once:
                    break
                next_at += self.settings.interval
                now = time.monotonic()
                if next_at < now:
                    next_at = now
                self._stop.wait(next_at - now)
        finally:
            self.close()
        return 0

    def stop(self) -> None:
        """Ask the loop to end (signal-safe: only sets an Event)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=5)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        for rt in self.targets:
            rt.lock.release()
            self.telemetry.lock_held.labels(rt.id).set(0)
        if self.server is not None:
            self.server.stop()
        self.sink.close()
        with self._sources_lock:
            for source in self._sources:
                source.close()
        log.info("controller %s stopped; locks released, decision log closed", self.settings.identity)
