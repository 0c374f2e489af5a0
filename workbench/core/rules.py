"""Composite conditions over named metrics: ``all`` / ``any`` / ``not``, comparisons, sustained-for.

A condition is written in YAML either as a string ``"cpu > 0.80"`` (optionally ``"cpu > 80%"`` or
``"cpu > 0.8 for 2m"``) or as a mapping ``{all: [...]}``, ``{any: [...]}``, ``{not: ...}``,
``{metric: cpu, op: ">", value: 0.8}``; any mapping may add ``forSeconds: N`` ("sustained for N
seconds").

Evaluation is three-valued (Kleene): a comparison on a missing metric is *unknown* (``None``);
``all`` is False if any child is False, else unknown if any is unknown; ``any`` is True if any
child is True, else unknown if any is unknown; ``not`` flips True/False and keeps unknown. A
sustained node is True only once its child has been True continuously for N seconds; False or
unknown resets its timer. Timers live in the caller's state (a tuple of start times, one slot per
sustained node) so evaluation stays pure.

Conditions compile to closures once per spec: the simulator evaluates them on every tick.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Any, Callable, Union

from workbench.core import schema

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
    "==": operator.eq, "!=": operator.ne,
}

_COMPARE = re.compile(
    r"^\s*(?P<metric>[A-Za-z_][A-Za-z0-9_.]*)\s*(?P<op>>=|<=|==|!=|>|<)\s*"
    r"(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(?P<pct>%)?"
    r"(?:\s+for\s+(?P<for>\S+))?\s*$"
)


@dataclass(frozen=True)
class Compare:
    metric: str
    op: str
    value: float

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


@dataclass(frozen=True)
class AllOf:
    children: tuple["Condition", ...]

    def __str__(self) -> str:
        return "all(" + ", ".join(map(str, self.children)) + ")"


@dataclass(frozen=True)
class AnyOf:
    children: tuple["Condition", ...]

    def __str__(self) -> str:
        return "any(" + ", ".join(map(str, self.children)) + ")"


@dataclass(frozen=True)
class Not:
    child: "Condition"

    def __str__(self) -> str:
        return f"not({self.child})"


@dataclass(frozen=True)
class Sustained:
    child: "Condition"
    seconds: float

    def __str__(self) -> str:
        return f"({self.child}) for {self.seconds:g}s"


Condition = Union[Compare, AllOf, AnyOf, Not, Sustained]

_KEYS = ("all", "any", "not", "metric", "op", "value", "forSeconds")


def parse(reader: schema.Reader, value: Any, path: str, known_metrics: tuple[str, ...]) -> Condition:
    """Build a condition from its YAML form, recording every problem in ``reader``."""
    if isinstance(value, str):
        return _parse_string(reader, value, path, known_metrics)
    if not isinstance(value, dict):
        reader.error(path, f"expected a condition (string like 'cpu > 0.8' or a mapping), got {schema.type_name(value)}")
        return AllOf(())
    reader.mapping(value, path, _KEYS)
    forms = [k for k in ("all", "any", "not", "metric") if k in value]
    if len(forms) != 1:
        what = "none" if not forms else ", ".join(forms)
        reader.error(path, f"a condition needs exactly one of all, any, not, metric (found {what})")
        return AllOf(())
    form = forms[0]
    cond: Condition
    if form in ("all", "any"):
        items = reader.seq(value[form], schema.join(path, form), min_items=1)
        children = tuple(parse(reader, item, schema.join(schema.join(path, form), i), known_metrics)
                         for i, item in enumerate(items))
        cond = AllOf(children) if form == "all" else AnyOf(children)
    elif form == "not":
        cond = Not(parse(reader, value["not"], schema.join(path, "not"), known_metrics))
    else:
        reader.mapping(value, path, _KEYS, required=("metric", "op", "value"))
        metric = reader.string(value, "metric", path, "")
        op = reader.string(value, "op", path, ">", choices=OPS)
        threshold = reader.number(value, "value", path, 0.0)
        _check_metric(reader, metric, schema.join(path, "metric"), known_metrics)
        cond = Compare(metric, op, threshold)
    if "forSeconds" in value:
        seconds = schema.duration(reader, value, "forSeconds", path, 0.0, positive=True)
        cond = Sustained(cond, seconds)
    return cond


def _parse_string(reader: schema.Reader, text: str, path: str, known_metrics: tuple[str, ...]) -> Condition:
    match = _COMPARE.match(text)
    if not match:
        reader.error(path, f"cannot parse condition {text!r} (expected like 'cpu > 0.8', 'p95_ms >= 800 for 2m')")
        return AllOf(())
    metric = match["metric"]
    _check_metric(reader, metric, path, known_metrics)
    threshold = float(match["value"]) / (100.0 if match["pct"] else 1.0)
    cond: Condition = Compare(metric, match["op"], threshold)
    if match["for"]:
        seconds = schema.parse_duration(match["for"])
        if seconds is None or seconds <= 0:
            reader.error(path, f"invalid duration {match['for']!r} after 'for' (like '90s', '3m')")
        else:
            cond = Sustained(cond, seconds)
    return cond


def _check_metric(reader: schema.Reader, metric: str, path: str, known: tuple[str, ...]) -> None:
    if metric and metric not in known:
        reader.error(path, f"unknown metric '{metric}' (known: {', '.join(known)})")


def metrics_used(cond: Condition) -> set[str]:
    if isinstance(cond, Compare):
        return {cond.metric}
    if isinstance(cond, (AllOf, AnyOf)):
        return set().union(*(metrics_used(c) for c in cond.children)) if cond.children else set()
    return metrics_used(cond.child)


def count_sustained(cond: Condition) -> int:
    if isinstance(cond, Sustained):
        return 1 + count_sustained(cond.child)
    if isinstance(cond, (AllOf, AnyOf)):
        return sum(count_sustained(c) for c in cond.children)
    if isinstance(cond, Not):
        return count_sustained(cond.child)
    return 0


Evaluator = Callable[[Any, list, float], Union[bool, None]]
"""``f(metrics, timers, now) -> True | False | None``; ``timers`` is a list the caller owns."""


def compile_condition(cond: Condition, first_slot: int = 0) -> tuple[Evaluator, int]:
    """Compile to a closure. Sustained nodes take timer slots from ``first_slot`` on.

    Returns the evaluator and the next free slot. Children of a node that contains sustained
    nodes are always all evaluated (no short-circuit), so every timer sees every tick.
    """
    if isinstance(cond, Compare):
        name, threshold, op = cond.metric, cond.value, OPS[cond.op]

        def compare(m: Any, timers: list, now: float) -> bool | None:
            v = m.get(name)
            if v is None or v != v:  # missing or NaN
                return None
            return op(v, threshold)
        return compare, first_slot

    if isinstance(cond, Sustained):
        child, slot = compile_condition(cond.child, first_slot)
        mine, seconds = slot, cond.seconds

        def sustained(m: Any, timers: list, now: float) -> bool | None:
            r = child(m, timers, now)
            if r is True:
                since = timers[mine]
                if since is None:
                    timers[mine] = since = now
                return now - since >= seconds
            timers[mine] = None
            return r
        return sustained, slot + 1

    if isinstance(cond, Not):
        child, slot = compile_condition(cond.child, first_slot)

        def negate(m: Any, timers: list, now: float) -> bool | None:
            r = child(m, timers, now)
            return None if r is None else not r
        return negate, slot

    children = []
    slot = first_slot
    for c in cond.children:
        f, slot = compile_condition(c, slot)
        children.append(f)
    fs = tuple(children)
    exhaustive = slot != first_slot  # contains timers: evaluate every child

    if isinstance(cond, AllOf):
        def all_of(m: Any, timers: list, now: float) -> bool | None:
            result: bool | None = True
            for f in fs:
                r = f(m, timers, now)
                if r is False:
                    if not exhaustive:
                        return False
                    result = False
                elif r is None and result is True:
                    result = None
            return result
        return all_of, slot

    def any_of(m: Any, timers: list, now: float) -> bool | None:
        result: bool | None = False
        for f in fs:
            r = f(m, timers, now)
            if r is True:
                if not exhaustive:
                    return True
                result = True
            elif r is None and result is False:
                result = None
        return result
    return any_of, slot


def compile_first_match(conds: tuple[Condition, ...]) -> Callable[[Any, tuple, float], tuple[int, tuple] | None]:
    """Generate one function for an ordered rule list: ``(index of first True rule or -1, timers)``.

    This is the hot path of rule policies: plain two-valued Python (no closures, no Kleene logic)
    that is valid when every metric used is present and not NaN; it returns ``None`` otherwise so
    the caller falls back to the three-valued evaluators. Timers (a tuple, one start time per
    sustained node, numbered as in ``compile_condition``) are updated for every sustained node of
    every rule; the same tuple object comes back when no timer changed.
    """
    names = sorted(set().union(*(metrics_used(c) for c in conds))) if conds else []
    local = {n: f"v{i}" for i, n in enumerate(names)}
    lines = ["def first_match(m, timers, now):"]
    for n in names:
        v = local[n]
        lines.append(f"    {v} = m.get({n!r})")
        lines.append(f"    if {v} is None or {v} != {v}: return None")
    consts: dict[str, float] = {}
    slot = [0]
    stmts: list[str] = []

    def expr(c: Condition) -> str:
        if isinstance(c, Compare):
            k = f"k{len(consts)}"
            consts[k] = c.value
            return f"({local[c.metric]} {c.op} {k})"
        if isinstance(c, AllOf):
            return "(" + " and ".join(expr(x) for x in c.children) + ")" if c.children else "True"
        if isinstance(c, AnyOf):
            return "(" + " or ".join(expr(x) for x in c.children) + ")" if c.children else "False"
        if isinstance(c, Not):
            return f"(not {expr(c.child)})"
        inner = expr(c.child)  # children's timers first, as in compile_condition
        mine = slot[0]
        slot[0] += 1
        k = f"k{len(consts)}"
        consts[k] = c.seconds
        stmts.extend([
            f"    if {inner}:",
            f"        if t{mine} is None: t{mine} = now",
            f"        s{mine} = now - t{mine} >= {k}",
            "    else:",
            f"        t{mine} = None",
            f"        s{mine} = False",
        ])
        return f"s{mine}"

    rule_exprs = [expr(c) for c in conds]
    n_timers = slot[0]
    if n_timers:
        lines.append("    " + "".join(f"t{i}, " for i in range(n_timers)) + "= timers")
    lines.extend(stmts)
    if n_timers:
        same = " and ".join(f"t{i} is timers[{i}]" for i in range(n_timers))
        lines.append(f"    if not ({same}): timers = (" + "".join(f"t{i}, " for i in range(n_timers)) + ")")
    for i, e in enumerate(rule_exprs):
        lines.append(f"    if {e}: return {i}, timers")
    lines.append("    return -1, timers")
    namespace: dict[str, Any] = dict(consts)
    exec(compile("\n".join(lines), "<rules>", "exec"), namespace)  # generated from parsed specs only
    return namespace["first_match"]


def vector_holds(cond: Condition, seen: Any, n: int) -> Any:
    """Vectorised two-valued value of ``cond`` over ``n`` ticks (numpy arrays in ``seen``), with
    every sustained node taken as False — its value while its timer is not running. Only
    meaningful where all metrics are finite (the caller masks the rest)."""
    import numpy as np

    if isinstance(cond, Compare):
        return OPS[cond.op](seen[cond.metric], cond.value)
    if isinstance(cond, AllOf):
        return np.logical_and.reduce([vector_holds(c, seen, n) for c in cond.children]) if cond.children \
            else np.ones(n, dtype=bool)
    if isinstance(cond, AnyOf):
        return np.logical_or.reduce([vector_holds(c, seen, n) for c in cond.children]) if cond.children \
            else np.zeros(n, dtype=bool)
    if isinstance(cond, Not):
        return ~vector_holds(cond.child, seen, n)
    return np.zeros(n, dtype=bool)


def sustained_children(cond: Condition) -> list[Condition]:
    """The child condition of every sustained node in ``cond``."""
    if isinstance(cond, Sustained):
        return [cond.child, *sustained_children(cond.child)]
    if isinstance(cond, (AllOf, AnyOf)):
        return [c for child in cond.children for c in sustained_children(child)]
    if isinstance(cond, Not):
        return sustained_children(cond.child)
    return []
