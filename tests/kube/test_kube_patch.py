"""The emulator's pure parts as tables: patch semantics (RFC 7386 / 6902) and selector syntax."""

from __future__ import annotations

import pytest

from controller.testing import kube_patch, kube_select

DOC = {"a": {"b": 1, "c": [1, 2]}, "x/y": "slash", "t~": "tilde"}

JSON_PATCHES = {
    "add-key": ([{"op": "add", "path": "/a/d", "value": 3}], {"b": 1, "c": [1, 2], "d": 3}),
    "add-append": ([{"op": "add", "path": "/a/c/-", "value": 3}], {"b": 1, "c": [1, 2, 3]}),
    "add-insert": ([{"op": "add", "path": "/a/c/0", "value": 0}], {"b": 1, "c": [0, 1, 2]}),
    "replace": ([{"op": "replace", "path": "/a/b", "value": 5}], {"b": 5, "c": [1, 2]}),
    "replace-item": ([{"op": "replace", "path": "/a/c/1", "value": 9}], {"b": 1, "c": [1, 9]}),
    "remove-item": ([{"op": "remove", "path": "/a/c/0"}], {"b": 1, "c": [2]}),
    "move": ([{"op": "move", "from": "/a/b", "path": "/a/z"}], {"c": [1, 2], "z": 1}),
    "copy": ([{"op": "copy", "from": "/a/b", "path": "/a/z"}], {"b": 1, "c": [1, 2], "z": 1}),
    "test-then-replace": ([{"op": "test", "path": "/a/c", "value": [1, 2]},
                           {"op": "replace", "path": "/a/c", "value": []}], {"b": 1, "c": []}),
}


@pytest.mark.parametrize("name", list(JSON_PATCHES))
def test_json_patch(name):
    ops, expected_a = JSON_PATCHES[name]
    assert kube_patch.json_patch(DOC, ops)["a"] == expected_a
    assert DOC["a"] == {"b": 1, "c": [1, 2]}                        # input untouched


def test_json_patch_pointer_escapes():
    out = kube_patch.json_patch(DOC, [{"op": "remove", "path": "/x~1y"}, {"op": "replace", "path": "/t~0", "value": 1}])
    assert out == {"a": DOC["a"], "t~": 1}


JSON_PATCH_ERRORS = {
    "not-a-list": ({"op": "add"}, True, "must be a list"),
    "no-path": ([{"op": "add", "value": 1}], True, "needs string 'op' and 'path'"),
    "no-value": ([{"op": "replace", "path": "/a/b"}], True, "missing 'value'"),
    "unknown-op": ([{"op": "merge", "path": "/a"}], False, "Unexpected kind: merge"),
    "missing-path": ([{"op": "replace", "path": "/nope", "value": 1}], False, "path /nope does not exist"),
    "remove-missing": ([{"op": "remove", "path": "/a/zz"}], False, "does not exist"),
    "index-out-of-range": ([{"op": "add", "path": "/a/c/5", "value": 1}], False, "out of bounds"),
    "test-fails": ([{"op": "test", "path": "/a/b", "value": 2}], False, "testing value /a/b failed"),
    "move-into-child": ([{"op": "move", "from": "/a", "path": "/a/b/c"}], False, "its own child"),
}


@pytest.mark.parametrize("name", list(JSON_PATCH_ERRORS))
def test_json_patch_errors(name):
    ops, decode, message = JSON_PATCH_ERRORS[name]
    with pytest.raises(kube_patch.PatchError, match=message) as info:
        kube_patch.json_patch(DOC, ops)
    assert info.value.decode is decode


MERGES = {
    "set": ({"a": {"b": 2}}, {"a": {"b": 2, "c": [1, 2]}}),
    "delete": ({"a": {"b": None}}, {"a": {"c": [1, 2]}}),
    "list-replaced": ({"a": {"c": [3]}}, {"a": {"b": 1, "c": [3]}}),
    "scalar-over-object": ({"a": 1}, {"a": 1}),
}


@pytest.mark.parametrize("name", list(MERGES))
def test_merge_patch(name):
    patch, expected = MERGES[name]
    assert {k: v for k, v in kube_patch.merge_patch(DOC, patch).items() if k == "a"} == expected


def test_strategic_merge_merges_named_lists_and_honours_delete():
    target = {"containers": [{"name": "app", "image": "1"}, {"name": "side", "image": "s"}], "args": ["a"]}
    patch = {"containers": [{"name": "app", "image": "2"}, {"name": "side", "$patch": "delete"},
                            {"name": "new", "image": "n"}], "args": ["b"]}
    assert kube_patch.strategic_merge(target, patch) == {
        "containers": [{"name": "app", "image": "2"}, {"name": "new", "image": "n"}], "args": ["b"]}


SELECTORS = {
    "equals": ("app=web", {"app": "web"}, True),
    "double-equals": ("app==web", {"app": "api"}, False),
    "not-equals-absent": ("app!=web", {}, True),
    "in": ("env in (prod, stage)", {"env": "stage"}, True),
    "notin": ("env notin (prod)", {"env": "prod"}, False),
    "exists": ("tier", {"tier": ""}, True),
    "not-exists": ("!tier", {"tier": "x"}, False),
    "and": ("app=web,env in (prod)", {"app": "web", "env": "dev"}, False),
    "empty": ("", {"any": "thing"}, True),
}


@pytest.mark.parametrize("name", list(SELECTORS))
def test_label_selector(name):
    text, labels, expected = SELECTORS[name]
    assert kube_select.parse_label_selector(text)(labels) is expected


def test_label_selector_formats_like_the_apiserver():
    selector = {"matchLabels": {"tier": "front", "app": "web"},
                "matchExpressions": [{"key": "env", "operator": "In", "values": ["stage", "prod"]},
                                     {"key": "legacy", "operator": "DoesNotExist"}]}
    assert kube_select.format_label_selector(selector) == "app=web,env in (prod,stage),!legacy,tier=front"
