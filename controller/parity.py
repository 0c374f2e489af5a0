"""Sim/live parity: replay a controller's decision log through the core's decision path.

``replay(entries, policies)`` feeds every logged decision's observation (metric snapshot, replica
counts) and time to the same ``workbench.core.policies`` family ``decide`` the simulator calls,
and compares the result with what the controller logged. Only ``workbench.core`` is used.

State is rebuilt from the log alone, per (target, policy slot): a line with ``reset`` starts from
``initial_state(spec, replicas, time)``; a line with ``state: committed`` carries its new state
forward, ``state: discarded`` keeps the previous one (the controller did the same: a decision
that did not take effect leaves the policy's state alone). Lines without a decision (skipped
before deciding) are ignored. ``policies`` maps a policy hash to its YAML text (or a parsed
spec); the hashes come from the log (``policy_hash``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from workbench.core import loading, observations, policies

COMPARED = ("replicas", "change", "reason", "rule")


@dataclass(frozen=True)
class Mismatch:
    line: int
    target: str
    policy_hash: str
    field: str
    logged: Any
    replayed: Any

    def __str__(self) -> str:
        return (f"line {self.line}: {self.target} ({self.policy_hash}): {self.field} logged {self.logged!r}, "
                f"replayed {self.replayed!r}")


@dataclass(frozen=True)
class Report:
    replayed: int
    mismatches: tuple[Mismatch, ...]

    @property
    def ok(self) -> bool:
        return not self.mismatches


def _metric(value: Any) -> float | None:
    if value is None:
        return None
    if value == "+Inf":
        return math.inf
    if value == "-Inf":
        return -math.inf
    return float(value)


def observation_of(entry: Mapping[str, Any]) -> observations.Observation:
    o = entry["observation"]
    return observations.Observation(metrics={k: _metric(v) for k, v in o["metrics"].items()},
                                    replicas=int(o["replicas"]), ready_replicas=int(o["ready_replicas"]),
                                    status_replicas=o.get("status_replicas"))


def _json_equal(a: Any, b: Any) -> bool:
    return json.loads(json.dumps(a, default=str)) == json.loads(json.dumps(b, default=str))


def replay(entries: Iterable[Mapping[str, Any]], policy_texts: Mapping[str, Any]) -> Report:
    """Replay every decision; ``policy_texts``: hash -> policy YAML text or a parsed spec."""
    specs: dict[str, Any] = {}
    for digest, value in policy_texts.items():
        specs[digest] = loading.load_policy_text(value, f"<policy {digest}>") if isinstance(value, str) else value
    states: dict[tuple[str, str, bool], Any] = {}
    mismatches: list[Mismatch] = []
    count = 0
    for n, entry in enumerate(entries, 1):
        if entry.get("decision") is None or entry.get("observation") is None:
            continue
        digest = entry["policy_hash"]
        if digest not in specs:
            raise KeyError(f"line {n}: no policy text for hash {digest}")
        spec = specs[digest]
        key = (entry["target"], "shadow:" + digest if entry.get("shadow") else "live", bool(entry.get("shadow")))
        obs = observation_of(entry)
        now = float(entry["time"])
        if entry.get("reset") or key not in states:
            state = policies.initial_state(spec, obs.replicas, now)
        else:
            state = states[key]
        decision, after = policies.decide(obs, state, spec, now)
        count += 1
        logged = entry["decision"]
        replayed = {"replicas": decision.replicas, "change": decision.change, "reason": decision.reason.value,
                    "rule": decision.rule}
        for field in COMPARED:
            if logged.get(field) != replayed[field]:
                mismatches.append(Mismatch(n, entry["target"], digest, field, logged.get(field), replayed[field]))
        if decision.detail and logged.get("detail") and not _json_equal(logged["detail"], dict(decision.detail)):
            mismatches.append(Mismatch(n, entry["target"], digest, "detail", logged["detail"], dict(decision.detail)))
        states[key] = after if entry.get("state") == "committed" else state
    return Report(count, tuple(mismatches))


def hashes(entries: Iterable[Mapping[str, Any]]) -> set[str]:
    """The policy hashes a log refers to (to collect their texts)."""
    return {e["policy_hash"] for e in entries if e.get("decision") is not None}


def policy_hash(text: str) -> str:
    return loading.policy_hash(text)
