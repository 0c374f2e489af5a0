"""Patch bodies as the kube-apiserver applies them: JSON merge patch, a strategic-merge subset, JSON patch.

Pure functions over plain JSON values; they never mutate their inputs. Failures raise
:class:`PatchError` with ``decode=True`` for a body that cannot be read at all (the server answers
400 BadRequest) and ``decode=False`` for a well-formed patch that does not apply (422 Invalid).
"""

from __future__ import annotations

import copy
from typing import Any

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
SUPPORTED = (JSON_PATCH, MERGE, STRATEGIC)


class PatchError(ValueError):
    """A patch that could not be decoded (``decode``) or applied."""

    def __init__(self, message: str, *, decode: bool = False) -> None:
        super().__init__(message)
        self.decode = decode


def apply(content_type: str, target: dict, patch: Any) -> Any:
    """Apply a decoded ``patch`` of ``content_type`` (one of :data:`SUPPORTED`) to ``target``."""
    if content_type == JSON_PATCH:
        return json_patch(target, patch)
    if not isinstance(patch, dict):
        raise PatchError("patch body must be a JSON object", decode=True)
    if content_type == STRATEGIC:
        return strategic_merge(target, patch)
    return merge_patch(target, patch)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge(target: Any, patch: Any) -> Any:
    """Merge patch, except lists of objects that all carry ``name`` merge item by item on that key
    (containers, env, ports, volumes in the real schema); ``{"$patch": "delete"}`` in such an item
    removes it. Every other list is replaced, as for fields without a patch strategy."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        old = result.get(key)
        if value is None:
            result.pop(key, None)
        elif _named_list(value) and (old is None or _named_list(old)):
            result[key] = _merge_named(old or [], value)
        else:
            result[key] = strategic_merge(old, value)
    return result


def _named_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(i, dict) and "name" in i for i in value)


def _merge_named(old: list, patch: list) -> list:
    merged = [copy.deepcopy(i) for i in old]
    for item in patch:
        index = next((n for n, cur in enumerate(merged) if cur["name"] == item["name"]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del merged[index]
        elif index is None:
            merged.append(strategic_merge({}, item))
        else:
            merged[index] = strategic_merge(merged[index], item)
    return merged


# --- RFC 6902 JSON patch ---------------------------------------------------------------------

_OPS = {"add", "remove", "replace", "move", "copy", "test"}


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902: apply ``ops`` (a list of operations) in order; all-or-nothing."""
    if not isinstance(ops, list):
        raise PatchError("json patch body must be a list of operations", decode=True)
    doc = copy.deepcopy(target)
    for number, op in enumerate(ops):
        if not isinstance(op, dict) or not isinstance(op.get("op"), str) or not isinstance(op.get("path"), str):
            raise PatchError(f"operation {number}: needs string 'op' and 'path'", decode=True)
        name = op["op"]
        if name not in _OPS:
            raise PatchError(f"Unexpected kind: {name}")
        if name in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"operation {number} ({name}): missing 'value'", decode=True)
        if name in ("move", "copy") and not isinstance(op.get("from"), str):
            raise PatchError(f"operation {number} ({name}): missing 'from'", decode=True)
        doc = _apply_op(doc, op)
    return doc


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list, token: str, path: str, *, append_ok: bool) -> int:
    if append_ok and token == "-":
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise PatchError(f"invalid array index {token!r} in {path}")
    index = int(token)
    if index > len(container) or (index == len(container) and not append_ok):
        raise PatchError(f"array index {index} out of bounds in {path}")
    return index


def _parent(doc: Any, tokens: list[str], path: str) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, path, append_ok=False)]
        else:
            raise PatchError(f"path {path} does not exist")
    return node


def _get(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return doc
    parent, last = _parent(doc, tokens, path), tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, path, append_ok=False)]
    raise PatchError(f"path {path} does not exist")


def _add(doc: Any, path: str, value: Any) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent, last = _parent(doc, tokens, path), tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, path, append_ok=True), value)
    else:
        raise PatchError(f"path {path} does not exist")
    return doc


def _remove(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        raise PatchError("cannot remove the whole document")
    parent, last = _parent(doc, tokens, path), tokens[-1]
    if isinstance(parent, dict) and last in parent:
        del parent[last]
    elif isinstance(parent, list):
        del parent[_index(parent, last, path, append_ok=False)]
    else:
        raise PatchError(f"path {path} does not exist")
    return doc


def _apply_op(doc: Any, op: dict) -> Any:
    name, path = op["op"], op["path"]
    if name == "add":
        return _add(doc, path, copy.deepcopy(op["value"]))
    if name == "remove":
        return _remove(doc, path)
    if name == "replace":
        _get(doc, path)                      # must exist
        if not _pointer(path):
            return copy.deepcopy(op["value"])
        return _add(_remove(doc, path), path, copy.deepcopy(op["value"]))
    if name == "test":
        if _get(doc, path) != op["value"]:
            raise PatchError(f"testing value {path} failed")
        return doc
    value = copy.deepcopy(_get(doc, op["from"]))
    if name == "move":
        if path.startswith(op["from"] + "/"):
            raise PatchError(f"cannot move {op['from']} into its own child {path}")
        doc = _remove(doc, op["from"])
    return _add(doc, path, value)
