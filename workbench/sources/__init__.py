"""Metric sources: where real metrics come from (Prometheus today), shared by the backtest's
``scalelab fetch`` and the live controller.

* ``bindings``: a ``MetricBindings`` YAML binds metric names (``qps``, ``cpu``, ``p95_ms``, ...)
  to PromQL for one workload; ``render()`` gives ``{name: promql}``.
* ``prometheus``: ``PrometheusSource``: chunked range queries and instant queries through
  ``prometheus_api_client``, with retries, auth/TLS options and one-line errors.
* ``fetch``: every bound query over a range, aligned on one step grid, written atomically as a
  Parquet trace (``timestamp`` + one float64 column per binding); the scenario cache.
* ``request``: the scenario's ``trace: {prometheus: {...}}`` block (parsing only).
* ``openmetrics``: renders simulator records or a plain trace as the raw metrics a cluster
  exports (for backfilling a real Prometheus in tests and demos).
* ``cli_fetch``: the ``scalelab fetch`` click command.

Layering: nothing here imports the simulator (``workbench.sim``), so the controller may use it.
"""
