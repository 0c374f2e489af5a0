"""Run one policy on one scenario: the public entry point behind ``scalelab backtest``.

    from workbench import backtest
    policy = backtest.load_policy("scenarios/policies/tiered.yaml")
    scenario = backtest.load_scenario("scenarios/nasa-1995-07.yaml")
    result = backtest.run(policy, scenario)
    result.records      # per-tick pandas DataFrame (see workbench.sim.records)
    result.scores       # dict of scores (see workbench.scoring)

``write_outputs`` writes records.parquet, scores.json and timeline.png into a folder: everything is
written to a temporary sibling folder first and each file is renamed into place only once all of
them are complete, so a failed or interrupted run never leaves half-written files behind.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from workbench import outputs
from workbench.core import errors, loading
from workbench.scoring import scores as scoring
from workbench.sim import engine, records
from workbench.sim.load import Load, build_load
from workbench.sim.scenario import Scenario, load_scenario

__all__ = ["load_policy", "load_scenario", "run", "BacktestResult", "write_outputs", "JSON_KEYS"]

JSON_KEYS = ("cost_replica_hours", "cost", "sla_violation_seconds", "sla_violation_request_share",
             "dropped_requests", "scale_events", "direction_reversals", "theta_u", "theta_o", "tau_u", "tau_o",
             "instability", "jitter", "oracle_cost_replica_hours", "oracle_cost_ratio", "simulated_seconds", "ticks")


@dataclass(frozen=True)
class LoadedPolicy:
    spec: Any
    source: str
    text: str

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def hash(self) -> str:
        return loading.policy_hash(self.text)


def load_policy(path: str | Path) -> LoadedPolicy:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise errors.UserError(f"{path}: cannot read policy: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise errors.UserError(f"{path}: not a text file") from None
    return LoadedPolicy(loading.load_policy_text(text, str(path)), str(path), text)


@dataclass(frozen=True)
class BacktestResult:
    policy: LoadedPolicy
    scenario: Scenario
    load: Load
    records: pd.DataFrame
    scores: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The JSON object ``scalelab backtest --json`` prints."""
        return {"policy": self.policy.name, "scenario": self.scenario.name, **self.scores, "meta": self.meta}


def run(policy: LoadedPolicy, scenario: Scenario, *, trace: str | None = None, column: str | None = None,
        progress: Callable[[int, int], None] | None = None, load: Load | None = None) -> BacktestResult:
    """Backtest ``policy`` on ``scenario`` (optionally on another trace file and column)."""
    if trace is not None:
        scenario = scenario.with_trace(trace, column or scenario.trace.column)
    started = time.perf_counter()
    if load is None:
        load = build_load(scenario)
    raw = engine.Engine(policy.spec, scenario, load, progress=progress).run()
    frame = records.build(raw, scenario, load)
    params = scoring.ScoreParams(dt=load.dt, cost_per_replica_hour=scenario.cost_per_replica_hour,
                                 flap_window_seconds=scenario.flap_window_seconds,
                                 startup_min_seconds=scenario.startup.minimum,
                                 initial_replicas=raw.initial_replicas)
    scores = scoring.compute_scores(frame, params).as_dict()
    meta = {
        "policy_kind": policy.spec.kind, "policy_hash": policy.hash, "policy_file": policy.source,
        "scenario_file": scenario.source, "trace": load.source, "column": scenario.trace.column,
        "start": pd.Timestamp(load.start, unit="s", tz="UTC").isoformat(), "interval_seconds": load.dt,
        "initial_replicas": raw.initial_replicas, "seed": scenario.seed, "slo_p95_ms": scenario.service.slo_p95_ms,
        "wall_seconds": round(time.perf_counter() - started, 3), "warnings": list(load.warnings),
    }
    return BacktestResult(policy, scenario, load, frame, scores, meta)


def write_outputs(result: BacktestResult, out_dir: str | Path, *, plot: bool = True) -> Path:
    """Write records.parquet, scores.json and timeline.png into ``out_dir`` (no partial files)."""
    from workbench.reports import timeline  # matplotlib only when asked for

    with outputs.staged_folder(out_dir) as tmp:
        result.records.to_parquet(tmp / "records.parquet", index=False)
        (tmp / "scores.json").write_text(json.dumps(result.summary(), indent=2, sort_keys=False) + "\n")
        if plot:
            timeline.plot(result.records, tmp / "timeline.png", title=f"{result.policy.name} on {result.scenario.name}",
                          slo_ms=result.scenario.service.slo_p95_ms)
    return Path(out_dir)
