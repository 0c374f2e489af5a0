"""Observe: the bound metrics as instant PromQL queries, with missing, NaN and stale detection.

``PromObserver.observe(now)`` evaluates every metric the target's policies need (plus the
``replicas`` binding when bound, for ``ready_replicas``) at ``now`` through
``workbench.sources.prometheus.PrometheusSource.instant_vector`` and returns a ``Snapshot``:
each value, or ``None`` with a reason code. All of a target's queries and its freshness check go
to Prometheus as *one* query (``combined_query``: each part tagged with a ``scalelab_metric`` /
``scalelab_selector`` label by ``label_replace``, joined with ``or``); if Prometheus rejects the
combination (e.g. a binding returns a scalar), the observer asks one query per metric from then
on. Reason codes:

* ``absent``  -- the query returned nothing (no series, or older than Prometheus' lookback);
* ``nan``     -- the query returned NaN (e.g. 0/0 with no traffic);
* ``stale``   -- the newest raw sample behind the query is older than ``max_age`` seconds;
* ``invalid`` -- the query was rejected or returned several series (a bindings bug);
* ``error`` / ``timeout`` -- Prometheus could not be reached or did not answer in time. The first
  such failure marks Prometheus as down for the rest of the loop (``Outage``), so one hung server
  costs one timeout per loop, not one per metric and target.

Staleness: an aggregated query's own timestamp is the evaluation time, so the observer finds the
raw series selectors inside each query (``selectors``) and asks ``max(timestamp(selector))`` for
each of them, in the same request (``timestamp()`` of a plain selector is the sample's own time).
A metric is stale when any of its selectors' newest sample is older than ``max_age`` (0 disables
the check). Queries without a recognisable selector are not checked.
"""

from __future__ import annotations

import math
import re
import threading
from typing import Callable, Iterable, Mapping, NamedTuple

from workbench.core import errors
from workbench.sources import bindings as _bindings

REASONS = ("absent", "nan", "stale", "invalid", "error", "timeout")
READY_BINDING = "replicas"


class Snapshot(NamedTuple):
    metrics: dict[str, float | None]    # what the policy sees (None = missing)
    problems: dict[str, str]            # metric -> reason code (REASONS)
    details: dict[str, str]             # metric -> one-line explanation
    ages: dict[str, float]              # metric -> age of its newest raw sample (seconds), when checked


class Outage:
    """Shared by the targets of one loop: once Prometheus failed to answer, stop asking it."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.detail = ""
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.reason, self.detail = None, ""

    def trip(self, reason: str, detail: str) -> None:
        with self._lock:
            if self.reason is None:
                self.reason, self.detail = reason, detail


# ------------------------------------------------------------------------------ PromQL selectors

_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_NUMBER = re.compile(r"(?:0x[0-9a-fA-F]+|[0-9][0-9a-zA-Z_.]*|\.[0-9][0-9a-zA-Z_.]*)")
_GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_KEYWORDS = frozenset({"bool", "and", "or", "unless", "offset", "inf", "nan", "atan2", "start", "end"}) | _GROUPING


def _skip_string(text: str, i: int) -> int:
    quote = text[i]
    i += 1
    while i < len(text) and text[i] != quote:
        i += 2 if text[i] == "\\" and quote != "`" else 1
    return i + 1


def _skip_block(text: str, i: int, close: str) -> int:
    """From an opening bracket at ``i`` to just after its ``close`` (strings inside skipped)."""
    i += 1
    while i < len(text) and text[i] != close:
        i = _skip_string(text, i) if text[i] in "\"'`" else i + 1
    return i + 1


def selectors(promql: str) -> list[str]:
    """The series selectors in a PromQL expression (``name{...}``, ``name``, ``{...}``), without
    range or offset parts, in order of appearance, duplicates removed."""
    out: list[str] = []
    i, n = 0, len(promql)
    while i < n:
        c = promql[i]
        if c in "\"'`":
            i = _skip_string(promql, i)
        elif c == "[":
            i = _skip_block(promql, i, "]")
        elif c == "{":
            end = _skip_block(promql, i, "}")
            out.append(promql[i:end])
            i = end
        elif c.isdigit() or (c == "." and i + 1 < n and promql[i + 1].isdigit()):
            m = _NUMBER.match(promql, i)
            i = m.end() if m else i + 1
        elif _IDENT.match(promql, i):
            m = _IDENT.match(promql, i)
            name, i = m.group(0), m.end()
            j = i
            while j < n and promql[j].isspace():
                j += 1
            nxt = promql[j] if j < n else ""
            if nxt == "(":
                if name in _GROUPING:
                    i = _skip_block(promql, j, ")")
                # else: a function or an aggregation; its arguments are scanned next
            elif nxt == "{":
                end = _skip_block(promql, j, "}")
                out.append(name + promql[j:end])
                i = end
            elif _IDENT.match(promql, j) and _IDENT.match(promql, j).group(0) in ("by", "without"):
                pass  # an aggregation written as `sum by (x) (...)`
            elif name.lower() not in _KEYWORDS:
                out.append(name)
        else:
            i += 1
    return list(dict.fromkeys(re.sub(r"\s+", "", s) if '"' not in s else s for s in out))


def freshness_query(selector_list: list[str]) -> str:
    """One query answering the newest sample time of each selector, labelled by its index."""
    parts = [f'label_replace(max(timestamp({s})), "scalelab_selector", "{i}", "", "")'
             for i, s in enumerate(selector_list)]
    return " or ".join(parts)


def combined_query(queries: Mapping[str, str], selector_list: list[str]) -> str:
    """Every metric (labelled ``scalelab_metric``) and the freshness part in one query."""
    parts = [f'label_replace(({q}), "scalelab_metric", "{name}", "", "")' for name, q in queries.items()]
    fresh = freshness_query(selector_list)
    return " or ".join(parts + ([fresh] if fresh else []))


# ------------------------------------------------------------------------------------ observing

class PromObserver:
    """The bound metrics of one target. ``source`` returns the (thread's) PrometheusSource."""

    def __init__(self, bindings: _bindings.MetricBindings, names: Iterable[str], max_age: float,
                 source: Callable[[], object], outage: Outage | None = None):
        self.bindings, self.max_age, self._source = bindings, max_age, source
        self.outage = outage or Outage()
        self._rendered = bindings.render()
        self.set_names(names)

    def set_names(self, names: Iterable[str]) -> None:
        """The metrics to query (plus ``replicas`` when bound); rebuilds the freshness query."""
        wanted = list(dict.fromkeys(names))
        if READY_BINDING in self._rendered and READY_BINDING not in wanted:
            wanted.append(READY_BINDING)
        missing = [n for n in wanted if n not in self._rendered]
        if missing:
            raise errors.UserError(f"{self.bindings.source}: no binding for metric {', '.join(map(repr, missing))} "
                                   f"(bound: {', '.join(sorted(self._rendered))})")
        self.queries = {n: self._rendered[n] for n in wanted}
        all_selectors: list[str] = []
        self._selectors_of: dict[str, list[int]] = {}
        for name, query in self.queries.items():
            idx = []
            for s in selectors(query):
                if s not in all_selectors:
                    all_selectors.append(s)
                idx.append(all_selectors.index(s))
            self._selectors_of[name] = idx
        self.selectors = all_selectors
        self.freshness = freshness_query(all_selectors) if all_selectors else None
        self.combined: str | None = combined_query(self.queries, all_selectors if self.max_age > 0 else [])

    def observe(self, now: float) -> Snapshot:
        values: dict[str, float | None] = {name: None for name in self.queries}
        problems: dict[str, str] = {}
        details: dict[str, str] = {}
        ages: dict[str, float] = {}
        if self.outage.reason is not None:
            for name in self.queries:
                problems[name], details[name] = self.outage.reason, self.outage.detail
            return Snapshot(values, problems, details, ages)
        source = self._source()
        vectors: dict[str, list[float]] | None = None
        newest: dict[int, float] | None = None
        if self.combined is not None:
            try:
                answer = source.instant_vector(self.combined, now, name="metrics")
            except errors.UpstreamError as exc:
                reason = "timeout" if "(timeout)" in str(exc) else "error"
                self.outage.trip(reason, str(exc))
                for name in self.queries:
                    problems[name], details[name] = reason, str(exc)
                return Snapshot(values, problems, details, ages)
            except errors.UserError:
                self.combined = None        # e.g. a scalar query: ask one query at a time from now on
            else:
                vectors, newest = {name: [] for name in self.queries}, {}
                for labels, value in answer:
                    if "scalelab_metric" in labels and labels["scalelab_metric"] in vectors:
                        vectors[labels["scalelab_metric"]].append(value)
                    elif "scalelab_selector" in labels:
                        try:
                            newest[int(labels["scalelab_selector"])] = value
                        except ValueError:
                            pass
        if vectors is None:
            vectors = self._one_by_one(source, now, problems, details)
        for name, found in vectors.items():
            if name in problems:
                continue
            if not found:
                problems[name], details[name] = "absent", "the query returned no data"
            elif len(found) > 1:
                problems[name], details[name] = "invalid", f"the query returned {len(found)} series where one was expected"
            elif math.isnan(found[0]):
                problems[name], details[name] = "nan", "the query returned NaN"
            else:
                values[name] = found[0]
        if self.freshness and self.max_age > 0 and any(v is not None for v in values.values()):
            if newest is None:
                newest = self._freshness(source, now, values, problems, details)
            if newest is not None:
                self._apply_freshness(newest, now, values, problems, details, ages)
        return Snapshot(values, problems, details, ages)

    def _one_by_one(self, source, now: float, problems: dict, details: dict) -> dict[str, list[float]]:
        vectors: dict[str, list[float]] = {}
        for name, query in self.queries.items():
            vectors[name] = []
            if self.outage.reason is not None:
                problems[name], details[name] = self.outage.reason, self.outage.detail
                continue
            try:
                vectors[name] = [value for _, value in source.instant_vector(query, now, name=name)]
            except errors.UpstreamError as exc:
                reason = "timeout" if "(timeout)" in str(exc) else "error"
                self.outage.trip(reason, str(exc))
                problems[name], details[name] = reason, str(exc)
            except errors.UserError as exc:
                problems[name], details[name] = "invalid", str(exc)
        return vectors

    def _freshness(self, source, now: float, values: dict, problems: dict, details: dict) -> dict[int, float] | None:
        try:
            vector = source.instant_vector(self.freshness, now, name="freshness")
        except (errors.UpstreamError, errors.UserError) as exc:
            reason = "timeout" if "(timeout)" in str(exc) else ("error" if isinstance(exc, errors.UpstreamError)
                                                                else "invalid")
            if reason != "invalid":
                self.outage.trip(reason, str(exc))
            for name, value in values.items():
                if value is not None:   # cannot prove it fresh: treat as missing
                    values[name] = None
                    problems[name], details[name] = reason, f"freshness check failed: {exc}"
            return None
        newest: dict[int, float] = {}
        for labels, stamp in vector:
            try:
                newest[int(labels.get("scalelab_selector", ""))] = stamp
            except ValueError:
                continue
        return newest

    def _apply_freshness(self, newest: dict[int, float], now: float, values: dict, problems: dict, details: dict,
                         ages: dict) -> None:
        for name, value in values.items():
            idx = self._selectors_of.get(name) or []
            if value is None or not idx:
                continue
            stamps = [newest.get(i) for i in idx]
            if any(s is None or math.isnan(s) for s in stamps):
                values[name] = None
                problems[name], details[name] = "stale", "a series behind the query has no recent sample"
                continue
            age = now - min(stamps)  # type: ignore[type-var]
            ages[name] = round(age, 3)
            if age > self.max_age:
                values[name] = None
                problems[name] = "stale"
                details[name] = f"newest sample is {age:.1f}s old (max age {self.max_age:g}s)"


class StaticObserver:
    """Returns fixed snapshots (tests, the bench): ``values`` may be a callable ``now -> dict``."""

    def __init__(self, values: Mapping[str, float | None] | Callable[[float], Mapping[str, float | None]]):
        self.values = values

    def observe(self, now: float) -> Snapshot:
        raw = self.values(now) if callable(self.values) else self.values
        metrics = dict(raw)
        problems = {k: "absent" for k, v in metrics.items() if v is None}
        return Snapshot(metrics, problems, {k: "no value" for k in problems}, {})
