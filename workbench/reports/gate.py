"""The regression gate: does a candidate's results regress against a baseline beyond thresholds?

Thresholds file (YAML; every problem reported with file:line: path)::

    thresholds:
      sla_violation_seconds: {max_increase: 0}        # absolute increase allowed
      direction_reversals:  {max_increase: 2}
      cost_replica_hours:   {max_increase_pct: 5}     # relative increase allowed, percent
      sla_violation_request_share: {max: 0.001}       # absolute ceiling, baseline or not

Without a file, ``DEFAULT_THRESHOLDS`` apply: no more SLA-miss seconds, no more direction
reversals, cost up at most 5 %. A score that is lower-is-better is assumed for every key (all of
the cost, SLA and oscillation scores are).

Matching: candidate and baseline rows are paired by scenario, and by policy name when the
baseline has that policy for the scenario; otherwise a scenario's single baseline row is the
reference for every candidate on it. A candidate scenario missing from the baseline is reported
(not a regression, but said). Pure: tables in, verdicts out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from workbench.core import errors, schema

DEFAULT_THRESHOLDS: dict[str, dict[str, float]] = {
    "sla_violation_seconds": {"max_increase": 0.0},
    "direction_reversals": {"max_increase": 0.0},
    "cost_replica_hours": {"max_increase_pct": 5.0},
}
_RULES = ("max_increase", "max_increase_pct", "max")


@dataclass(frozen=True)
class Regression:
    scenario: str
    policy: str
    score: str
    baseline: float | None
    candidate: float
    allowed: str

    def __str__(self) -> str:
        if self.baseline is None:
            return f"{self.scenario} / {self.policy}: {self.score} {self.candidate:g} (allowed {self.allowed})"
        delta = self.candidate - self.baseline
        return (f"{self.scenario} / {self.policy}: {self.score} {self.baseline:g} -> {self.candidate:g} "
                f"({delta:+g}; allowed {self.allowed})")


@dataclass(frozen=True)
class Verdict:
    regressions: tuple[Regression, ...]
    compared: tuple[dict[str, Any], ...]   # one entry per (scenario, policy, score)
    unmatched: tuple[str, ...]             # candidate scenarios without a baseline

    @property
    def passed(self) -> bool:
        return not self.regressions


def parse_thresholds(text: str, source: str) -> dict[str, dict[str, float]]:
    doc, lines = schema.parse_yaml(text, source)
    r = schema.Reader(source, lines)
    doc = r.mapping(doc, "", ("thresholds",), required=("thresholds",))
    out: dict[str, dict[str, float]] = {}
    th = doc.get("thresholds", {})
    if not isinstance(th, dict):
        r.error("thresholds", f"expected a mapping of score names, got {schema.type_name(th)}")
        th = {}
    for key, rule in th.items():
        path = schema.join("thresholds", str(key))
        rule = r.mapping(rule, path, _RULES)
        if isinstance(rule, dict) and not rule:
            r.error(path, f"needs one of {', '.join(_RULES)}")
        out[str(key)] = {k: r.number(rule, k, path, 0.0, minimum=0) for k in _RULES if k in rule}
    r.finish()
    return out


def evaluate(candidate: pd.DataFrame, baseline: pd.DataFrame | None,
             thresholds: dict[str, dict[str, float]] | None = None) -> Verdict:
    thresholds = DEFAULT_THRESHOLDS if thresholds is None else thresholds
    missing = [k for k in thresholds if k not in candidate.columns]
    if missing:
        raise errors.UserError(f"thresholds name scores the results do not have: {', '.join(missing)}")
    regressions: list[Regression] = []
    compared: list[dict[str, Any]] = []
    unmatched: list[str] = []
    for _, row in candidate.iterrows():
        ref = _reference(baseline, row["scenario"], row["policy"])
        if baseline is not None and ref is None and row["scenario"] not in unmatched:
            unmatched.append(row["scenario"])
        for score, rule in thresholds.items():
            cand = float(row[score])
            base = float(ref[score]) if ref is not None and score in ref and _num(ref[score]) else None
            limit, allowed = _limit(rule, base)
            if math.isinf(limit):
                continue  # nothing to hold this score against (no baseline, no ceiling)
            ok = cand <= limit + 1e-9 * max(1.0, abs(limit))
            compared.append({"scenario": row["scenario"], "policy": row["policy"], "score": score,
                             "baseline": base, "candidate": cand, "limit": limit, "ok": ok})
            if not ok:
                regressions.append(Regression(row["scenario"], row["policy"], score, base, cand, allowed))
    return Verdict(tuple(regressions), tuple(compared), tuple(unmatched))


def _num(v: Any) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def _reference(baseline: pd.DataFrame | None, scenario: str, policy: str) -> pd.Series | None:
    if baseline is None:
        return None
    same = baseline[baseline["scenario"] == scenario]
    if same.empty:
        return None
    named = same[same["policy"] == policy]
    if not named.empty:
        return named.iloc[0]
    return same.iloc[0] if len(same) == 1 else None


def _limit(rule: dict[str, float], base: float | None) -> tuple[float, str]:
    limits: list[tuple[float, str]] = []
    if "max" in rule:
        limits.append((rule["max"], f"<= {rule['max']:g}"))
    if base is not None:
        if "max_increase" in rule:
            limits.append((base + rule["max_increase"], f"+{rule['max_increase']:g}"))
        if "max_increase_pct" in rule:
            limits.append((base * (1 + rule["max_increase_pct"] / 100.0), f"+{rule['max_increase_pct']:g}%"))
    if not limits:
        return math.inf, "no baseline"
    return min(limits, key=lambda x: x[0])
