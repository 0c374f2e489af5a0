"""SPACE.yaml: which parameters of a base policy a sweep varies, how, and what it optimises.

A space file::

    description: gentle CPU threshold x scale-down threshold x step x cooldown   # optional
    mode: grid              # grid (default) | random
    samples: 200            # random: how many variants (required, or --samples); grid: a seeded
                            #   random subset of the grid points (optional)
    seed: 1                 # random draws and grid subsets are deterministic for a seed (default 0)
    parameters:             # at least one
      - name: gentle_cpu                     # optional column name (default: the path)
        path: spec.rules[1].when.any[0]      # where in the base policy document
        template: "cpu > {value}"            # optional: the value goes into a string
        values: [0.60, 0.65, 0.70]           # grid or random
      - path: spec.limits.maxStepUp
        range: {min: 1, max: 4, step: 1}     # grid or random (min, min+step, ... <= max)
      - path: spec.limits.minSecondsBetweenChanges
        choice: [30, 60, 120]                # random only
      - path: spec.rules[2].when.all[0]
        template: "cpu < {value}"
        uniform: {low: 0.2, high: 0.4}       # random only; rounded to `round` decimals (default 4)
        round: 3
      - path: spec.limits.maxStepDown
        int: {low: 1, high: 3}               # random only; whole numbers, both ends included
    minimize: cost_replica_hours             # or maximize: KEY (default: minimize cost_replica_hours)
    constraints:                             # all must hold for a variant to be feasible
      - sla_violation_request_share <= 0.001
      - max(oracle_cost_ratio) < 1.5

**Paths** address the base policy document as parsed YAML: keys separated by ``.``, list items by
``[i]`` (``spec.metrics[0].resource.target.averageUtilization``). Every path must already exist
in the base policy (the sweep changes values, it does not add fields) and no path may contain
another. **Variants**: the base document with the values put in at the paths, written out as
YAML and validated by the ordinary policy loader; a variant that fails validation (a threshold
the family rejects) is reported with its problem and not run.

**Scores** in the objective and in constraints are any key of ``workbench.scoring`` (``cost``,
``sla_violation_seconds``, ``flaps``, ...), aggregated over the sweep's scenarios: amounts and
counts (``AGGREGATION`` = ``sum``: cost, replica-hours, SLA-miss seconds, dropped requests, scale
events, ...) are summed; shares, ratios, percentages and means (``max``) take the worst
scenario. ``sum(KEY)``, ``max(KEY)``, ``min(KEY)``, ``mean(KEY)`` choose explicitly. A constraint
is ``SCORE OP NUMBER`` with OP one of ``<= < >= >``; a trailing ``%`` divides the number by 100.

``load_space`` reports every problem at once, each as ``file:line: path: message`` (one
``SpecError``), exactly like the policy loader.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from workbench.core import errors, loading, schema
from workbench.scoring.scores import SCORE_KEYS

__all__ = ["Space", "Parameter", "ScoreExpr", "Constraint", "Variant", "load_space", "parse_space",
           "generate_variants", "base_variant", "parse_path", "AGGREGATION", "MODES", "GENERATORS"]

MODES = ("grid", "random")
GENERATORS = ("values", "range", "choice", "uniform", "int")
GRID_GENERATORS = ("values", "range")
MAX_GRID = 100_000          # a grid larger than this needs `samples`
MAX_RANGE_POINTS = 10_000
DEFAULT_ROUND = 4
RANDOM_DRAWS_PER_SAMPLE = 100  # random mode gives up looking for new distinct variants after this many draws each

_SUM_KEYS = ("cost_replica_hours", "cost", "sla_violation_seconds", "dropped_requests", "scale_events", "scale_ups",
             "scale_downs", "direction_reversals", "flaps", "oracle_cost_replica_hours", "simulated_seconds", "ticks")
AGGREGATION: dict[str, str] = {k: ("sum" if k in _SUM_KEYS else "max") for k in SCORE_KEYS}
"""How each score is aggregated over scenarios by default: ``sum`` for amounts and counts, ``max``
(the worst scenario) for shares, ratios, percentages and means."""
AGGREGATORS = ("sum", "max", "min", "mean")

_TOP_KEYS = ("description", "mode", "seed", "samples", "parameters", "minimize", "maximize", "constraints")
_PARAM_KEYS = ("name", "path", "template", "round") + GENERATORS
_OPS = ("<=", ">=", "<", ">")


# ------------------------------------------------------------------------------------ scores

@dataclass(frozen=True)
class ScoreExpr:
    """One score aggregated over scenarios: ``key`` with ``how`` (``sum|max|min|mean``)."""

    key: str
    how: str
    label: str  # as written: "cost" or "mean(oracle_cost_ratio)"

    @property
    def explicit(self) -> bool:
        return self.label != self.key

    def evaluate(self, per_scenario: Sequence[Mapping[str, Any]]) -> float | None:
        """The aggregate of this score over one variant's runs; None if undefined everywhere."""
        values = [s[self.key] for s in per_scenario if s.get(self.key) is not None]
        values = [v for v in values if not (isinstance(v, float) and math.isnan(v))]
        if not values:
            return None
        counts = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
        if self.how == "sum":
            return sum(values) if counts else math.fsum(values)
        if self.how == "max":
            return max(values) if counts else float(max(values))
        if self.how == "min":
            return min(values) if counts else float(min(values))
        return math.fsum(values) / len(values)


@dataclass(frozen=True)
class Constraint:
    expr: ScoreExpr
    op: str
    threshold: float
    text: str

    def holds(self, value: float | None) -> bool:
        if value is None or math.isnan(value):
            return False
        return {"<=": value <= self.threshold, "<": value < self.threshold,
                ">=": value >= self.threshold, ">": value > self.threshold}[self.op]

    def violation(self, value: float | None) -> float:
        """How far ``value`` misses the bound, relative to it (0 when it holds; inf when undefined)."""
        if value is None or math.isnan(value):
            return math.inf
        if self.holds(value):
            return 0.0
        gap = value - self.threshold if self.op in ("<=", "<") else self.threshold - value
        return max(gap, 0.0) / max(abs(self.threshold), 1e-12) + (1e-12 if gap == 0 else 0.0)


_EXPR = re.compile(r"\s*(?:(sum|max|min|mean)\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)|([A-Za-z_][A-Za-z0-9_]*))\s*\Z")
_CONSTRAINT = re.compile(r"\s*(.+?)\s*(<=|>=|<|>)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(%?)\s*\Z")


def _score_expr(reader: schema.Reader, text: str, path: str) -> ScoreExpr | None:
    m = _EXPR.match(text)
    if not m:
        reader.error(path, f"expected a score like cost_replica_hours or max(sla_violation_request_share), "
                           f"got {text!r}")
        return None
    how, key = (m.group(1), m.group(2)) if m.group(1) else (None, m.group(3))
    if key not in SCORE_KEYS:
        hint = difflib.get_close_matches(key, SCORE_KEYS, n=1)
        extra = f"; did you mean '{hint[0]}'?" if hint else f" (known: {', '.join(SCORE_KEYS)})"
        reader.error(path, f"unknown score '{key}'{extra}")
        return None
    return ScoreExpr(key, how or AGGREGATION[key], f"{how}({key})" if how else key)


def _constraint(reader: schema.Reader, item: Any, path: str) -> Constraint | None:
    if not isinstance(item, str):
        reader.error(path, f"expected a string like 'sla_violation_request_share <= 0.001', got "
                           f"{schema.type_name(item)} {item!r}")
        return None
    m = _CONSTRAINT.match(item)
    if not m:
        reader.error(path, f"expected 'SCORE OP NUMBER' with OP one of <=, <, >=, >, got {item!r}")
        return None
    expr = _score_expr(reader, m.group(1), path)
    if expr is None:
        return None
    threshold = float(m.group(3)) / (100.0 if m.group(4) else 1.0)
    if not math.isfinite(threshold):
        reader.error(path, f"the bound must be finite, got {m.group(3)}")
        return None
    return Constraint(expr, m.group(2), threshold, f"{expr.label} {m.group(2)} {m.group(3)}{m.group(4)}")


# ------------------------------------------------------------------------------------- paths

_SEGMENT = r"[^.\[\]\s]+(?:\[\d+\])*"
_PATH = re.compile(rf"{_SEGMENT}(?:\.{_SEGMENT})*\Z")


def parse_path(text: str) -> tuple[str | int, ...] | None:
    """``spec.rules[1].when.any[0]`` -> ``('spec', 'rules', 1, 'when', 'any', 0)``; None if malformed."""
    if not isinstance(text, str) or not _PATH.match(text):
        return None
    tokens: list[str | int] = []
    for segment in text.split("."):
        head, _, rest = segment.partition("[")
        tokens.append(head)
        if rest:
            tokens.extend(int(i) for i in re.findall(r"(\d+)\]", "[" + rest))
    return tuple(tokens)


def format_path(tokens: Sequence[str | int]) -> str:
    out = ""
    for tok in tokens:
        out = schema.join(out, tok)
    return out


def _a(value: Any) -> str:
    name = schema.type_name(value)
    return name if name == "null" else f"a {name}"


def locate(doc: Any, tokens: Sequence[str | int]) -> str | None:
    """None when ``tokens`` lead to a value in ``doc``, else why not."""
    node, here = doc, ""
    for tok in tokens:
        where = here or "the document"
        if isinstance(tok, int):
            if not isinstance(node, list):
                return f"{where} is {_a(node)}, not a list"
            if tok >= len(node):
                return f"{where} has {len(node)} item{'' if len(node) == 1 else 's'}, no [{tok}]"
            node = node[tok]
        else:
            if not isinstance(node, dict):
                return f"{where} is {_a(node)}, not a mapping"
            if tok not in node:
                keys = [str(k) for k in node]
                hint = difflib.get_close_matches(tok, keys, n=1)
                extra = f"; did you mean '{hint[0]}'?" if hint else (f" (keys: {', '.join(keys)})" if keys else "")
                return f"{where} has no key '{tok}'{extra}"
            node = node[tok]
        here = schema.join(here, tok)
    return None


def get_at(doc: Any, tokens: Sequence[str | int]) -> Any:
    node = doc
    for tok in tokens:
        node = node[tok]
    return node


def set_at(doc: Any, tokens: Sequence[str | int], value: Any) -> None:
    node = doc
    for tok in tokens[:-1]:
        node = node[tok]
    node[tokens[-1]] = value


# -------------------------------------------------------------------------------- parameters

def _clean(x: float) -> float:
    """Grid arithmetic without 0.30000000000000004."""
    return float(round(x, 10)) if x else 0.0


@dataclass(frozen=True)
class Parameter:
    """One varied parameter. ``kind`` is one of ``GENERATORS``; ``values`` holds the points of
    ``values``/``choice``/``range``; ``low``/``high`` the bounds of ``uniform``/``int``."""

    name: str
    path: str
    tokens: tuple[str | int, ...]
    kind: str
    values: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    digits: int = DEFAULT_ROUND
    template: str | None = None

    def draw(self, rng: random.Random) -> Any:
        if self.kind == "uniform":
            return round(rng.uniform(self.low, self.high), self.digits)
        if self.kind == "int":
            return rng.randint(int(self.low), int(self.high))
        return self.values[rng.randrange(len(self.values))]

    def render(self, value: Any) -> Any:
        """The value as it goes into the document (through the template, if any)."""
        if self.template is None:
            return value
        return self.template.replace("{value}", _text(value))

    def base_value(self, doc: Any) -> Any:
        """The base policy's value at this path (through the template when it matches; else None)."""
        raw = get_at(doc, self.tokens)
        if self.template is None:
            return raw if _scalar(raw) else json.dumps(raw, sort_keys=True)
        if not isinstance(raw, str):
            return None
        pattern = re.escape(self.template).replace(re.escape("{value}"), "(.+?)")
        m = re.fullmatch(r"\s*" + pattern + r"\s*", raw)
        if not m:
            return None
        return _number_or_text(m.group(1).strip())

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "path": self.path, "kind": self.kind}
        if self.template is not None:
            out["template"] = self.template
        if self.kind in ("uniform", "int"):
            out.update(low=self.low, high=self.high)
            if self.kind == "uniform":
                out["round"] = self.digits
        else:
            out["values"] = list(self.values)
        return out


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _number_or_text(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _parameter(reader: schema.Reader, item: Any, path: str, mode: str, base_doc: Any) -> Parameter | None:
    before = len(reader.problems)
    p = reader.mapping(item, path, _PARAM_KEYS, required=("path",))
    if not p:
        return None
    kinds = [k for k in GENERATORS if k in p]
    if len(kinds) != 1:
        reader.error(path, f"needs exactly one of {', '.join(GENERATORS)} (found {', '.join(kinds) or 'none'})")
    kind = kinds[0] if kinds else "values"
    if kinds and mode == "grid" and kind not in GRID_GENERATORS:
        reader.error(schema.join(path, kind), f"'{kind}' needs mode: random (a grid takes values or range)")
    # path
    tokens: tuple[str | int, ...] = ()
    text_path = ""
    if "path" in p:
        raw = p["path"]
        parsed = parse_path(raw) if isinstance(raw, str) else None
        if parsed is None:
            reader.error(schema.join(path, "path"), f"invalid path {raw!r}: expected keys separated by '.' with "
                                                   f"optional [index], like spec.rules[1].when.any[0]")
        else:
            tokens, text_path = parsed, format_path(parsed)
            problem = locate(base_doc, tokens)
            if problem is not None:
                reader.error(schema.join(path, "path"), f"'{text_path}' is not in the base policy: {problem}")
    name = reader.string(p, "name", path, text_path or "?")
    template = None
    if "template" in p:
        template = reader.string(p, "template", path, None)
        if isinstance(template, str) and template and "{value}" not in template:
            reader.error(schema.join(path, "template"), f"must contain {{value}}, got {template!r}")
    digits = DEFAULT_ROUND
    if "round" in p:
        if kind != "uniform":
            reader.error(schema.join(path, "round"), "round applies to uniform only")
        digits = reader.number(p, "round", path, DEFAULT_ROUND, minimum=0, maximum=12, integer=True)
    kp = schema.join(path, kind)
    here = len(reader.problems)
    values: tuple[Any, ...] = ()
    low = high = None
    if kind in ("values", "choice") and kind in p:
        items = reader.seq(p[kind], kp, min_items=1)
        seen: list[str] = []
        for i, v in enumerate(items):
            if template is not None and not isinstance(v, (bool, int, float, str)):
                reader.error(schema.join(kp, i), f"a template takes numbers, strings or booleans, got "
                                                 f"{schema.type_name(v)}")
            key = json.dumps(v, sort_keys=True, default=str)
            if key in seen:
                reader.error(schema.join(kp, i), f"duplicate value {v!r}")
            seen.append(key)
        values = tuple(items)
    elif kind == "range" and "range" in p:
        r = reader.mapping(p["range"], kp, ("min", "max", "step"), required=("min", "max", "step"))
        lo = reader.number(r, "min", kp, None) if "min" in r else None
        hi = reader.number(r, "max", kp, None) if "max" in r else None
        st = reader.number(r, "step", kp, None, minimum=0, exclusive_minimum=True) if "step" in r else None
        if None not in (lo, hi, st) and len(reader.problems) == here:
            if hi < lo:
                reader.error(schema.join(kp, "max"), f"max ({hi:g}) must be >= min ({lo:g})")
            else:
                n = int(math.floor((hi - lo) / st + 1e-9)) + 1
                if n > MAX_RANGE_POINTS:
                    reader.error(kp, f"{n} points (more than {MAX_RANGE_POINTS}); use a larger step")
                else:
                    integral = all(isinstance(r[k], int) and not isinstance(r[k], bool) for k in ("min", "max", "step"))
                    pts = [lo + i * st for i in range(n)]
                    values = tuple(int(round(x)) for x in pts) if integral else tuple(_clean(x) for x in pts)
    elif kind in ("uniform", "int") and kind in p:
        r = reader.mapping(p[kind], kp, ("low", "high"), required=("low", "high"))
        integer = kind == "int"
        low = reader.number(r, "low", kp, None, integer=integer) if "low" in r else None
        high = reader.number(r, "high", kp, None, integer=integer) if "high" in r else None
        if low is not None and high is not None and len(reader.problems) == here:
            if (high < low) if integer else (high <= low):
                reader.error(schema.join(kp, "high"), f"high ({high:g}) must be {'>=' if integer else '>'} "
                                                      f"low ({low:g})")
    if len(reader.problems) > before:
        return None
    return Parameter(name=name, path=text_path, tokens=tokens, kind=kind, values=values, low=low, high=high,
                     digits=digits, template=template)


# ------------------------------------------------------------------------------------- space

@dataclass(frozen=True)
class Space:
    source: str
    mode: str
    seed: int
    samples: int | None
    parameters: tuple[Parameter, ...]
    objective: ScoreExpr
    sense: str                          # "minimize" | "maximize"
    constraints: tuple[Constraint, ...]
    base_text: str
    base_source: str
    base_doc: Any = field(repr=False)
    base_name: str = "unnamed"
    description: str | None = None

    @property
    def grid_size(self) -> int | None:
        if self.mode != "grid":
            return None
        return math.prod(len(p.values) for p in self.parameters)

    def score_exprs(self) -> list[ScoreExpr]:
        """The objective and every constraint's score, each once, in order."""
        out: dict[str, ScoreExpr] = {self.objective.label: self.objective}
        for c in self.constraints:
            out.setdefault(c.expr.label, c.expr)
        return list(out.values())

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "description": self.description, "mode": self.mode, "seed": self.seed,
                "samples": self.samples, "grid_size": self.grid_size,
                "parameters": [p.describe() for p in self.parameters],
                "objective": {self.sense: self.objective.label, "aggregation": self.objective.how},
                "constraints": [c.text for c in self.constraints],
                "base": {"file": self.base_source, "name": self.base_name,
                         "hash": loading.policy_hash(self.base_text)}}


RESERVED_COLUMNS = frozenset({"variant", "is_base", "objective", "feasible", "violations", "on_front", "best",
                              "error", "policy_hash"} | set(SCORE_KEYS))


def load_space(path: str | Path, base_text: str, base_source: str = "<base policy>", *,
               samples: int | None = None, seed: int | None = None) -> Space:
    """Read a space file against the base policy's text (``samples``/``seed`` override the file's)."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise errors.UserError(f"{path}: cannot read space: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise errors.UserError(f"{path}: not a text file") from None
    return parse_space(text, str(path), base_text, base_source, samples=samples, seed=seed)


def parse_space(text: str, source: str, base_text: str, base_source: str = "<base policy>", *,
                samples: int | None = None, seed: int | None = None) -> Space:
    """Parse and validate a space document against a base policy; raise ``SpecError`` listing
    every problem (each ``file:line: path: message``)."""
    base_spec = loading.load_policy_text(base_text, base_source)  # the base itself must be valid
    base_doc, _ = schema.parse_yaml(base_text, base_source)
    doc, lines = schema.parse_yaml(text, source)
    r = schema.Reader(source, lines)
    doc = r.mapping(doc, "", _TOP_KEYS, required=("parameters",))
    if not isinstance(doc, dict) or not doc:
        r.finish()
    mode = r.string(doc, "mode", "", "grid", choices=MODES)
    description = r.string(doc, "description", "", None)
    space_seed = r.number(doc, "seed", "", 0, integer=True, minimum=0)
    space_samples = r.number(doc, "samples", "", None, integer=True, minimum=1)
    if samples is not None:
        space_samples = samples
    if seed is not None:
        space_seed = seed
    if mode == "random" and space_samples is None:
        r.error("mode" if "mode" in doc else "", "random mode needs samples: N (or --samples N)")
    params: list[Parameter] = []
    if "parameters" in doc:
        items = r.seq(doc["parameters"], "parameters", min_items=1)
        for i, item in enumerate(items):
            param = _parameter(r, item, schema.join("parameters", i), mode, base_doc)
            if param is not None:
                params.append(param)
                _check_clashes(r, params, schema.join("parameters", i))
    if "minimize" in doc and "maximize" in doc:
        r.error("maximize", "give one of minimize, maximize, not both")
    sense = "maximize" if "maximize" in doc and "minimize" not in doc else "minimize"
    objective = ScoreExpr("cost_replica_hours", "sum", "cost_replica_hours")
    if sense in doc:
        label = r.string(doc, sense, "", "")
        if label:
            objective = _score_expr(r, label, sense) or objective
    constraints: list[Constraint] = []
    if "constraints" in doc:
        for i, item in enumerate(r.seq(doc["constraints"], "constraints")):
            c = _constraint(r, item, schema.join("constraints", i))
            if c is not None:
                constraints.append(c)
    if r.ok and mode == "grid" and space_samples is None:
        size = math.prod(len(p.values) for p in params)
        if size > MAX_GRID:
            r.error("parameters", f"the grid has {size:,} points (more than {MAX_GRID:,}); add samples: N to "
                                  f"try a random subset, or use mode: random")
    r.finish()
    return Space(source=source, mode=mode, seed=int(space_seed), samples=space_samples, parameters=tuple(params),
                 objective=objective, sense=sense, constraints=tuple(constraints), base_text=base_text,
                 base_source=base_source, base_doc=base_doc, base_name=base_spec.name, description=description)


def _check_clashes(r: schema.Reader, params: list[Parameter], path: str) -> None:
    new = params[-1]
    for j, old in enumerate(params[:-1]):
        n = min(len(old.tokens), len(new.tokens))
        if old.tokens[:n] == new.tokens[:n]:
            what = "is the same path as" if len(old.tokens) == len(new.tokens) else "overlaps"
            r.error(schema.join(path, "path"), f"'{new.path}' {what} parameters[{j}] ('{old.path}')")
            return
        if old.name == new.name:
            r.error(schema.join(path, "name"), f"duplicate name '{new.name}' (also parameters[{j}])")
            return
    if new.name in RESERVED_COLUMNS:
        r.error(schema.join(path, "name"), f"'{new.name}' is a results column; choose another name")


# ----------------------------------------------------------------------------------- variants

@dataclass(frozen=True)
class Variant:
    """One policy of the sweep. ``text`` is the policy document to run; ``error`` says why it is
    not a valid policy (then it is reported, not run)."""

    id: str
    values: tuple[Any, ...]
    text: str
    error: str | None = None
    is_base: bool = False

    @property
    def valid(self) -> bool:
        return self.error is None

    @property
    def hash(self) -> str:
        return loading.policy_hash(self.text)

    def params(self, space: Space) -> dict[str, Any]:
        return {p.name: v for p, v in zip(space.parameters, self.values)}


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: 5x faster, the same text


def dump_policy(doc: Any) -> str:
    return yaml.dump(doc, Dumper=_DUMPER, sort_keys=False, allow_unicode=True, width=1000)


def _validate(text: str, label: str) -> str | None:
    try:
        loading.load_policy_text(text, label)
    except errors.SpecError as exc:
        return "; ".join(f"{p.path}: {p.message}" if p.path else p.message for p in exc.problems)
    return None


def make_variant(space: Space, vid: str, values: Sequence[Any]) -> Variant:
    """The base document with ``values`` put in at the parameters' paths, validated."""
    doc = copy.deepcopy(space.base_doc)
    for param, value in zip(space.parameters, values):
        set_at(doc, param.tokens, param.render(value))
    text = dump_policy(doc)
    return Variant(vid, tuple(values), text, _validate(text, f"{space.source}#{vid}"))


def base_variant(space: Space) -> Variant:
    """The base policy itself (its exact text), with its own values at the parameters' paths."""
    return Variant("base", tuple(p.base_value(space.base_doc) for p in space.parameters), space.base_text,
                   None, is_base=True)


def _value_key(values: Sequence[Any]) -> str:
    return json.dumps(list(values), sort_keys=True, default=str)


def generate_values(space: Space) -> list[tuple[Any, ...]]:
    """The parameter values of every variant, in order; deterministic for the space's seed.

    grid: the Cartesian product in file order (the last parameter varies fastest); with
    ``samples`` smaller than the grid, a seeded random subset of it, still in grid order.
    random: ``samples`` distinct draws (each parameter drawn in file order from one
    ``random.Random(seed)``); repeats are drawn again, up to 100 draws per sample, so a small
    discrete space yields fewer variants rather than looping forever."""
    params = space.parameters
    if space.mode == "grid":
        sizes = [len(p.values) for p in params]
        total = math.prod(sizes)
        if space.samples is None or space.samples >= total:
            indices: Sequence[int] = range(total)
        else:
            indices = sorted(random.Random(space.seed).sample(range(total), space.samples))
        out = []
        for index in indices:
            digits = []
            for size in reversed(sizes):
                index, d = divmod(index, size)
                digits.append(d)
            out.append(tuple(p.values[d] for p, d in zip(params, reversed(digits))))
        return out
    rng = random.Random(space.seed)
    wanted = space.samples or 0
    seen: set[str] = set()
    out = []
    for _ in range(wanted * RANDOM_DRAWS_PER_SAMPLE):
        if len(out) >= wanted:
            break
        values = tuple(p.draw(rng) for p in params)
        key = _value_key(values)
        if key not in seen:
            seen.add(key)
            out.append(values)
    return out


def generate_variants(space: Space) -> list[Variant]:
    """Every variant of the space (not the base), ids ``v0001``... in generation order."""
    all_values = generate_values(space)
    width = max(4, len(str(len(all_values))))
    return [make_variant(space, f"v{i:0{width}d}", values) for i, values in enumerate(all_values, 1)]
