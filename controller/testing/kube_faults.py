"""Fault injection rules and the request log, shared between test threads and server threads.

A rule matches requests by verb (``"GET"``, ``"PATCH,PUT"``, or the groups ``"WRITE"`` / ``"READ"``),
a regular expression searched in the path, and an optional predicate; it fires for its next
``count`` matches (``None``: until removed). Actions:

* ``latency`` -- sleep ``seconds`` (a number, or a callable ``RequestInfo -> float``) first;
  latency rules add up and do not stop the request;
* ``touch``   -- a concurrent writer: bump the addressed object's resourceVersion just before the
  request is served (so a read-modify-write based on an earlier read conflicts);
* ``error``   -- answer ``status`` (500 by default) with a ``Status`` body;
* ``conflict``-- answer 409 Conflict (a "409 storm" on writes even with a fresh resourceVersion);
* ``drop``    -- read the request, then close the socket without answering;
* ``hang``    -- wait ``seconds`` without answering (past the client's timeout), then close.

At most one of the last four (the first matching rule) applies to a request.
"""

from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

VERB_GROUPS = {"WRITE": {"POST", "PUT", "PATCH", "DELETE"}, "READ": {"GET", "HEAD"}}
TERMINAL = ("error", "conflict", "drop", "hang")
ACTIONS = ("latency", "touch") + TERMINAL
REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
           409: "Conflict", 410: "Expired", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
           503: "ServiceUnavailable", 504: "Timeout"}


@dataclass(frozen=True)
class RequestInfo:
    """What a rule may look at: verb, path (no query), query, lower-cased headers, raw body."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


def verbs(method: str | Iterable[str] | None) -> frozenset[str] | None:
    if method is None:
        return None
    names = method.split(",") if isinstance(method, str) else list(method)
    out: set[str] = set()
    for name in (n.strip().upper() for n in names):
        out |= VERB_GROUPS.get(name, {name})
    return frozenset(out)


@dataclass
class Rule:
    id: int
    action: str
    count: int | None = 1
    method: frozenset[str] | None = None
    path: str | None = None
    where: Callable[[RequestInfo], bool] | None = None
    status: int = 500
    seconds: float | Callable[[RequestInfo], float] = 0.0
    message: str = ""
    retry_after: int | None = None
    hits: int = 0

    def matches(self, request: RequestInfo) -> bool:
        return ((self.method is None or request.method in self.method)
                and (self.path is None or re.search(self.path, request.path) is not None)
                and (self.where is None or bool(self.where(request))))

    def delay(self, request: RequestInfo) -> float:
        return float(self.seconds(request) if callable(self.seconds) else self.seconds)

    def describe(self) -> dict:
        out = asdict(self)
        out.update(method=sorted(self.method) if self.method else None, where=self.where is not None,
                   seconds=None if callable(self.seconds) else self.seconds)
        return out


@dataclass
class Plan:
    """What the faults make of one request."""

    delay: float = 0.0
    touches: list[Rule] = field(default_factory=list)
    terminal: Rule | None = None


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._next_id = 1

    def add(self, action: str, *, count: int | None = 1, method: str | Iterable[str] | None = None,
            path: str | None = None, where: Callable[[RequestInfo], bool] | None = None, **params: Any) -> Rule:
        if action not in ACTIONS:
            raise ValueError(f"unknown fault action {action!r} (known: {', '.join(ACTIONS)})")
        if count is not None and count < 1:
            raise ValueError("count must be at least 1 (or None for 'until removed')")
        if path is not None:
            re.compile(path)
        if action in ("conflict", "touch") and method is None:
            method = "WRITE"
        with self._lock:
            rule = Rule(self._next_id, action, count, verbs(method), path, where, **params)
            self._next_id += 1
            self._rules.append(rule)
            return rule

    def remove(self, rule: Rule | int) -> None:
        rule_id = rule.id if isinstance(rule, Rule) else rule
        with self._lock:
            self._rules = [r for r in self._rules if r.id != rule_id]

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[Rule]:
        with self._lock:
            return list(self._rules)

    def plan(self, request: RequestInfo) -> Plan:
        plan = Plan()
        with self._lock:
            for rule in self._rules:
                if rule.action in TERMINAL and plan.terminal is not None:
                    continue
                if not rule.matches(request):
                    continue
                rule.hits += 1
                if rule.count is not None:
                    rule.count -= 1
                if rule.action == "latency":
                    plan.delay += rule.delay(request)
                elif rule.action == "touch":
                    plan.touches.append(rule)
                else:
                    plan.terminal = rule
            self._rules = [r for r in self._rules if r.count is None or r.count > 0]
        return plan


@dataclass(frozen=True)
class Record:
    """One served request. ``status`` is None when the connection was dropped or hung up;
    ``body``/``response`` are decoded JSON when they were JSON, else text."""

    method: str
    path: str
    query: dict[str, str]
    content_type: str | None
    body: Any
    status: int | None
    response: Any
    fault: str | None
    seconds: float


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[Record] = []

    def append(self, record: Record) -> None:
        with self._lock:
            self._records.append(record)

    def records(self) -> list[Record]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
