"""One way to read YAML documents into frozen specs, reporting *every* problem with its path.

``parse_yaml(text, source)`` turns YAML text into plain Python values plus a map from each value's
path (``spec.rules[1].when``) to its line, so that later checks can point at the line.
``Reader`` walks those values: every accessor records a ``Problem`` instead of raising, returns a
harmless placeholder, and ``Reader.finish()`` raises one ``SpecError`` carrying them all.

Pure: the caller reads the file; this module only parses text.
"""

from __future__ import annotations

import difflib
import math
import re
from typing import Any, Callable, Iterable, TypeVar

import yaml

from workbench.core import errors

T = TypeVar("T")

_MISSING = object()


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that keeps one line number per node path."""


def _walk(node: yaml.Node, path: str, lines: dict[str, int], loader: yaml.SafeLoader) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if isinstance(key, (list, dict)):
                key = str(key)
            sub = join(path, str(key))
            if key in out:
                raise errors.SpecError([errors.Problem(loader.name, sub, "duplicate key", key_node.start_mark.line + 1)])
            out[key] = _walk(value_node, sub, lines, loader)
            lines.setdefault(sub, key_node.start_mark.line + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(item, join(path, i), lines, loader) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def parse_yaml(text: str, source: str) -> tuple[Any, dict[str, int]]:
    """Parse one YAML document. Syntax errors become a ``SpecError`` naming the line."""
    loader = None
    try:
        loader = _LineLoader(text)
        loader.name = source
        node = loader.get_single_node()
        if node is None:
            raise errors.SpecError([errors.Problem(source, "", "empty document", 1)])
        lines: dict[str, int] = {}
        value = _walk(node, "", lines, loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        msg = (exc.problem or exc.context or "invalid YAML").strip()
        raise errors.SpecError([errors.Problem(source, "", f"invalid YAML: {msg}", line)]) from None
    except yaml.YAMLError as exc:  # reader errors: bad characters or bytes
        what = str(exc).splitlines()[0] if str(exc) else "unreadable text"
        raise errors.SpecError([errors.Problem(source, "", f"invalid YAML: {what}")]) from None
    except RecursionError:
        raise errors.SpecError([errors.Problem(source, "", "invalid YAML: nested too deeply")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    return value, lines


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


class Reader:
    """Collects problems while specs are built. Accessors never raise; ``finish`` does."""

    def __init__(self, source: str, lines: dict[str, int] | None = None):
        self.source = source
        self.lines = lines or {}
        self.problems: list[errors.Problem] = []

    # -- reporting -------------------------------------------------------------------------
    def line_of(self, path: str) -> int | None:
        p = path
        while p:
            if p in self.lines:
                return self.lines[p]
            cut = max(p.rfind("."), p.rfind("["))
            p = p[:cut] if cut > 0 else ""
        return self.lines.get("")

    def error(self, path: str, message: str) -> None:
        self.problems.append(errors.Problem(self.source, path, message, self.line_of(path)))

    def finish(self) -> None:
        if self.problems:
            raise errors.SpecError(self.problems)

    @property
    def ok(self) -> bool:
        return not self.problems

    # -- structure -------------------------------------------------------------------------
    def mapping(self, value: Any, path: str, allowed: Iterable[str], required: Iterable[str] = ()) -> dict:
        """Check ``value`` is a mapping with only ``allowed`` keys and all ``required`` ones."""
        if not isinstance(value, dict):
            self.error(path, f"expected a mapping, got {type_name(value)}")
            return {}
        allowed = list(allowed)
        for key in value:
            if key not in allowed:
                hint = difflib.get_close_matches(str(key), allowed, n=1)
                extra = f"; did you mean '{hint[0]}'?" if hint else f" (allowed: {', '.join(allowed)})"
                self.error(join(path, str(key)), f"unknown key '{key}'{extra}")
        for key in required:
            if key not in value:
                self.error(path, f"missing required key '{key}'")
        return value

    def seq(self, value: Any, path: str, *, min_items: int = 0) -> list:
        if not isinstance(value, list):
            self.error(path, f"expected a list, got {type_name(value)}")
            return []
        if len(value) < min_items:
            self.error(path, f"needs at least {min_items} item{'s' if min_items != 1 else ''}")
        return value

    # -- scalars ---------------------------------------------------------------------------
    def number(
        self,
        parent: dict,
        key: str,
        path: str,
        default: Any = _MISSING,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        exclusive_minimum: bool = False,
        integer: bool = False,
    ) -> Any:
        sub = join(path, key)
        if key not in parent:
            if default is _MISSING:
                self.error(path, f"missing required key '{key}'")
                return 0
            return default
        before = len(self.problems)
        value = self.check_number(parent[key], sub, minimum=minimum, maximum=maximum,
                                  exclusive_minimum=exclusive_minimum, integer=integer)
        if len(self.problems) > before and default is not _MISSING:
            return default  # a harmless placeholder: the document is rejected anyway
        return value

    def check_number(self, value: Any, path: str, *, minimum: float | None = None, maximum: float | None = None,
                     exclusive_minimum: bool = False, integer: bool = False) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.error(path, f"expected a{'n integer' if integer else ' number'}, got {type_name(value)} {value!r}")
            return 0
        if not math.isfinite(value):
            self.error(path, f"must be finite, got {value}")
            return 0
        if integer and value != int(value):
            self.error(path, f"expected an integer, got {value}")
            return int(value)
        if minimum is not None and (value <= minimum if exclusive_minimum else value < minimum):
            self.error(path, f"must be {'>' if exclusive_minimum else '>='} {minimum:g}, got {value:g}")
        if maximum is not None and value > maximum:
            self.error(path, f"must be <= {maximum:g}, got {value:g}")
        return int(value) if integer else float(value)

    def string(self, parent: dict, key: str, path: str, default: Any = _MISSING, *,
               choices: Iterable[str] | None = None) -> Any:
        sub = join(path, key)
        if key not in parent:
            if default is _MISSING:
                self.error(path, f"missing required key '{key}'")
                return ""
            return default
        value = parent[key]
        if not isinstance(value, str) or not value:
            self.error(sub, f"expected a non-empty string, got {type_name(value)} {value!r}")
            return ""
        if choices is not None:
            choices = list(choices)
            if value not in choices:
                self.error(sub, f"must be one of {', '.join(choices)}, got '{value}'")
        return value

    def boolean(self, parent: dict, key: str, path: str, default: bool) -> bool:
        if key not in parent:
            return default
        value = parent[key]
        if not isinstance(value, bool):
            self.error(join(path, key), f"expected true or false, got {type_name(value)} {value!r}")
            return default
        return value

    def each(self, items: list, path: str, build: Callable[[Any, str], T]) -> tuple[T, ...]:
        return tuple(build(item, join(path, i)) for i, item in enumerate(items))


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(value: Any) -> float | None:
    """Seconds from a number or a string like '90s', '3m', '1h30m', '2d14h', '250ms'. None if invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    try:
        number = float(text)
        return number if math.isfinite(number) else None
    except ValueError:
        pass
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if text[pos:match.start()].strip():
            return None
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos == 0 or text[pos:].strip():
        return None
    return total


def duration(reader: Reader, parent: dict, key: str, path: str, default: Any = _MISSING,
             *, minimum: float = 0.0, positive: bool = False) -> Any:
    """Read a duration field (number of seconds or '90s'/'3m'/...)."""
    sub = join(path, key)
    if key not in parent:
        if default is _MISSING:
            reader.error(path, f"missing required key '{key}'")
            return 0.0
        return default
    seconds = parse_duration(parent[key])
    if seconds is None:
        reader.error(sub, f"expected a duration (seconds, or like '90s', '3m', '1h'), got {parent[key]!r}")
        return 0.0
    if positive and seconds <= 0:
        reader.error(sub, f"must be > 0, got {parent[key]!r}")
    elif seconds < minimum:
        reader.error(sub, f"must be >= {minimum:g}s, got {parent[key]!r}")
    return seconds
