"""The public Python API, for notebooks and scripts (the CLI is a thin user of the same calls).

    from workbench import api as sl
    policy = sl.load_policy("scenarios/policies/tiered.yaml")
    scenario = sl.load_scenario("scenarios/nasa-1995-07.yaml")
    result = sl.backtest(policy, scenario)          # records + scores
    result.records                                   # per-tick pandas DataFrame
    sl.scores_frame([result])                        # one row of scores per run
    sl.timeline_figure(result.records, "t.png", slo_ms=scenario.service.slo_p95_ms)
    table = sl.compare(["a.yaml", "b.yaml"], ["s1.yaml", "s2.yaml"], workers=2)
    sl.comparison_figure(table, "cmp.png")
"""

from __future__ import annotations

from typing import Iterable

import pandas as pd

from workbench.backtest import BacktestResult, LoadedPolicy, load_policy, load_scenario, write_outputs
from workbench.backtest import run as backtest
from workbench.compare import figure as comparison_figure
from workbench.compare import markdown_table, overlay_timeline
from workbench.compare import run_matrix as compare
from workbench.reports.timeline import plot as timeline_figure

__all__ = ["BacktestResult", "LoadedPolicy", "backtest", "compare", "comparison_figure", "load_policy",
           "load_scenario", "markdown_table", "overlay_timeline", "scores_frame", "timeline_figure",
           "write_outputs"]


def scores_frame(results: Iterable[BacktestResult]) -> pd.DataFrame:
    """One row per backtest: policy, scenario and every score."""
    return pd.DataFrame([{"policy": r.policy.name, "scenario": r.scenario.name, **r.scores} for r in results])
