"""The live controller: a thin shell around ``workbench.core`` that scales real workloads.

One reconcile per target and tick (``loop.reconcile``): observe the bound metrics through
Prometheus (``observe``), read the ``scale`` subresource, decide with
``workbench.core.policies`` (nothing re-implemented here), apply the shell's guards (fail-safe,
fallback, bounds re-check, one change per interval, distributed lock, circuit breaker) and patch
the scale with optimistic concurrency (``act``). ``runner.Controller`` drives many targets on a
timer with hot reload, shadow policies, ``/metrics`` and graceful shutdown; ``cli`` is
``scalelab controller run``. User documentation: ``docs/controller.md``.

Layering (import-linter): the controller imports ``workbench.core`` and ``workbench.sources`` only,
never the simulator; the workbench never imports the controller.
"""
