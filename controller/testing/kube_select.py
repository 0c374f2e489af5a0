"""Label and field selectors, parsed from and formatted to the kube-apiserver's string syntax.

``app=web,tier!=db,env in (prod,stage),!legacy`` parses into requirements that match a label
dict; :func:`format_label_selector` turns a ``LabelSelector`` object (``matchLabels`` +
``matchExpressions``) into that string, as ``Scale.status.selector`` reports it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

_KEY = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_SET = re.compile(r"^(\S+)\s+(in|notin)\s+\(([^)]*)\)$")


class SelectorError(ValueError):
    """A selector string the server cannot parse (answered as 400 BadRequest)."""


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str                      # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        return not present or value not in self.values       # "!=", "notin"


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts]


def _check_key(key: str, text: str) -> str:
    if not _KEY.match(key):
        raise SelectorError(f"unable to parse requirement: invalid label key {key!r} in {text!r}")
    return key


def parse_label_selector(text: str | None) -> Callable[[dict[str, str]], bool]:
    """A predicate over a label dict; the empty selector matches everything."""
    requirements = []
    for part in _split_top_level(text or ""):
        if not part:
            if text and text.strip():
                raise SelectorError(f"unable to parse requirement: empty term in {text!r}")
            continue
        match = _SET.match(part)
        if match:
            values = tuple(v.strip() for v in match.group(3).split(",") if v.strip())
            requirements.append(Requirement(_check_key(match.group(1), text), match.group(2), values))
        elif "!=" in part:
            key, value = part.split("!=", 1)
            requirements.append(Requirement(_check_key(key.strip(), text), "!=", (value.strip(),)))
        elif "=" in part:
            key, value = part.replace("==", "=", 1).split("=", 1)
            requirements.append(Requirement(_check_key(key.strip(), text), "=", (value.strip(),)))
        elif part.startswith("!"):
            requirements.append(Requirement(_check_key(part[1:].strip(), text), "!"))
        else:
            requirements.append(Requirement(_check_key(part, text), "exists"))
    return lambda labels: all(r.matches(labels or {}) for r in requirements)


def parse_field_selector(text: str | None, allowed: Callable[[str], bool]) -> Callable[[dict], bool]:
    """A predicate over a whole object for ``field=value`` / ``field!=value`` terms."""
    terms = []
    for part in (p.strip() for p in (text or "").split(",")):
        if not part:
            continue
        negate = "!=" in part
        field, _, value = part.replace("!=", "=", 1).replace("==", "=", 1).partition("=")
        field = field.strip()
        if not _:
            raise SelectorError(f"invalid selector: {text!r}; can't understand {part!r}")
        if not allowed(field):
            raise SelectorError(f'field label not supported: {field}')
        terms.append((field, value.strip(), negate))

    def matches(obj: dict) -> bool:
        return all((str(_lookup(obj, f)) == v) != negate for f, v, negate in terms)

    return matches


def _lookup(obj: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        obj = obj.get(key, "") if isinstance(obj, dict) else ""
    return "" if obj is None else obj


def format_label_selector(selector: dict | None) -> str:
    """``{"matchLabels": {"app": "web"}, "matchExpressions": [...]}`` -> ``"app=web,..."``,
    requirements sorted by key as ``labels.Selector.String()`` does."""
    selector = selector or {}
    parts = [(k, f"{k}={v}") for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator", ""), sorted(expr.get("values") or [])
        if op == "In":
            parts.append((key, f"{key} in ({','.join(values)})"))
        elif op == "NotIn":
            parts.append((key, f"{key} notin ({','.join(values)})"))
        elif op == "Exists":
            parts.append((key, key))
        elif op == "DoesNotExist":
            parts.append((key, f"!{key}"))
    return ",".join(text for _, text in sorted(parts, key=lambda p: p[0]))


def selector_matches(selector: dict | None, labels: dict[str, str]) -> bool:
    """Whether a ``LabelSelector`` object selects ``labels`` (empty selects everything)."""
    return parse_label_selector(format_label_selector(selector))(labels)
