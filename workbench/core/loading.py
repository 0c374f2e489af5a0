"""The one loader for policy documents: YAML text in, a frozen family spec out.

Every problem in the document is reported at once, each with its file, line and YAML path
(``policy.yaml:14: spec.rules[1].when.any[0]: unknown metric 'cpuu' (known: ...)``), as one
``SpecError``. Pure: callers read the file and pass its text.

Document envelope (all families)::

    apiVersion: scalelab/v1
    kind: TieredPolicy | HPAPolicy | ...
    metadata: {name: my-policy, description: optional text}
    spec: {...}                       # the family's own schema
"""

from __future__ import annotations

import hashlib
from typing import Any

from workbench.core import errors, schema
from workbench.core import policies

API_VERSION = "scalelab/v1"


def load_policy_text(text: str, source: str = "<policy>") -> Any:
    """Parse and validate a policy document; raise ``SpecError`` listing every problem."""
    doc, lines = schema.parse_yaml(text, source)
    reader = schema.Reader(source, lines)
    doc = reader.mapping(doc, "", ("apiVersion", "kind", "metadata", "spec"), required=("kind", "spec"))
    if not isinstance(doc, dict) or not doc:
        reader.finish()
    api = doc.get("apiVersion", API_VERSION)
    if api != API_VERSION:
        reader.error("apiVersion", f"unsupported apiVersion {api!r} (expected {API_VERSION})")
    meta = reader.mapping(doc.get("metadata", {}), "metadata", ("name", "description", "labels"))
    name = reader.string(meta, "name", "metadata", "unnamed")
    kind = doc.get("kind")
    fam = policies.FAMILIES.get(kind) if isinstance(kind, str) else None
    if fam is None:
        if "kind" in doc:
            reader.error("kind", f"unknown policy kind {kind!r} (known: {', '.join(sorted(policies.FAMILIES))})")
        reader.finish()
    spec = fam.parse(reader, doc.get("spec", {}), "spec", name)
    reader.finish()
    return spec


def policy_hash(text: str) -> str:
    """Stable short identity of a policy document's exact text (for logs and audit records)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


__all__ = ["load_policy_text", "policy_hash", "API_VERSION", "errors"]
