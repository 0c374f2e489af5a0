"""``scalelab sweep``: search a policy's parameters for the best cost/SLA trade-off.

    from workbench.sweep import run_sweep
    result = run_sweep("scenarios/policies/tiered.yaml", "scenarios/spaces/tiered-thresholds.yaml",
                       ["scenarios/wikipedia-2016-01.yaml"], "out/sweep")        # or executor="dask://host:8786"
    result.best, result.table, result.counts

* ``space``: the SPACE.yaml schema (``load_space``), variant generation (``generate_variants``),
  objective and constraints (``ScoreExpr``, ``Constraint``) — see its module doc;
* ``run``: execution (process pool or Dask), the resume cache, the results table and outputs;
* ``pareto``: the Pareto front of cost vs SLA misses and its figure;
* ``cli``: the ``sweep_command`` click command.
"""

from __future__ import annotations

import importlib
from typing import Any

# Lazy: ``workbench.cli`` imports ``workbench.sweep.cli`` on every start; pandas and the simulator
# load only when the sweep runs.
_EXPORTS = {
    "run_sweep": "run", "SweepResult": "run", "parse_executor": "run",
    "pareto_front": "pareto",
    "load_space": "space", "parse_space": "space", "Space": "space", "Parameter": "space", "ScoreExpr": "space",
    "Constraint": "space", "Variant": "space", "generate_values": "space", "generate_variants": "space",
    "base_variant": "space", "AGGREGATION": "space",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"workbench.sweep.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'workbench.sweep' has no attribute {name!r}")
