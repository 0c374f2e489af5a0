"""``scalelab promote``: hand a gated policy to the live controller, with an audit record.

Refuses unless the exact policy text (by hash) was a candidate in a ``report.json`` that passed
the gate. Targets:

* ``file:PATH`` — the file the controller watches (``--policy PATH``); written atomically
  (temp file + rename, so the controller never reads half a policy). The audit record is appended
  to ``PATH.audit.jsonl``.
* ``configmap:NAMESPACE/NAME`` — the ConfigMap the in-cluster controller watches; key
  ``policy.yaml``, annotations ``scalelab.io/policy-hash``, ``scalelab.io/promoted-at`` and
  ``scalelab.io/audit`` (the record); created if missing, updated with optimistic concurrency.

Every promotion is also appended to ``RESULTS/promotions.jsonl``.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

from workbench import outputs
from workbench.core import errors, loading

CONFIGMAP_KEY = "policy.yaml"


def check(policy_path: str | Path, results: str | Path) -> tuple[str, str, dict[str, Any]]:
    """(policy text, hash, report) if the policy passed the gate on these results; else UserError."""
    p = Path(policy_path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise errors.UserError(f"{policy_path}: cannot read policy: {exc.strerror or exc}") from None
    spec = loading.load_policy_text(text, str(policy_path))  # must still be a valid policy
    digest = loading.policy_hash(text)
    report_file = Path(results) / "report.json"
    if not report_file.exists():
        raise errors.UserError(f"{results}: no report.json; run `scalelab report --results {results} ... --out {results}` "
                               "first (promote only accepts gated results)")
    try:
        report = json.loads(report_file.read_text())
    except ValueError as exc:
        raise errors.UserError(f"{report_file}: not valid JSON: {exc}") from None
    hashes = {c.get("policy_hash") for c in report.get("candidates", [])}
    if digest not in hashes:
        raise errors.UserError(f"refusing to promote {policy_path} ({spec.name}, hash {digest}): it is not among the "
                               f"candidates gated in {report_file}")
    if not report.get("passed"):
        first = (report.get("regressions") or ["(no detail)"])[0]
        raise errors.UserError(f"refusing to promote {policy_path}: the gate failed on {results}: {first}")
    return text, digest, report


def audit_record(policy_path: str | Path, text: str, digest: str, report: dict[str, Any], target: str,
                 now: _dt.datetime) -> dict[str, Any]:
    spec = loading.load_policy_text(text, str(policy_path))
    scores = [c for c in report.get("candidates", []) if c.get("policy_hash") == digest]
    return {"promoted_at": now.isoformat(timespec="seconds"), "policy_file": str(policy_path), "policy": spec.name,
            "policy_hash": digest, "target": target, "results": report.get("results"),
            "baseline": report.get("baseline"), "gate": "passed", "scores": scores}


def promote(policy_path: str | Path, results: str | Path, target: str, *, now: _dt.datetime | None = None,
            kube_client: Any = None) -> dict[str, Any]:
    text, digest, report = check(policy_path, results)
    now = now or _dt.datetime.now(_dt.timezone.utc)
    record = audit_record(policy_path, text, digest, report, target, now)
    kind, _, where = target.partition(":")
    if kind == "file" and where:
        outputs.write_atomic(where, text, fsync=True)  # the controller never reads half a policy
        _append(Path(where + ".audit.jsonl"), record)
    elif kind == "configmap" and where.count("/") == 1 and all(where.split("/")):
        namespace, name = where.split("/")
        _write_configmap(namespace, name, text, record, kube_client)
    else:
        raise errors.UserError(f"--to {target!r}: expected file:PATH or configmap:NAMESPACE/NAME")
    _append(Path(results) / "promotions.jsonl", record)
    return record


def _append(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(record, default=str) + "\n")


def _write_configmap(namespace: str, name: str, text: str, record: dict[str, Any], api_client: Any) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(api_client)
    annotations = {"scalelab.io/policy-hash": record["policy_hash"], "scalelab.io/promoted-at": record["promoted_at"],
                   "scalelab.io/audit": json.dumps(record, default=str)}
    for _ in range(5):  # optimistic concurrency: re-read and retry on 409
        try:
            try:
                cm = core.read_namespaced_config_map(name, namespace)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, namespace=namespace,
                                                                       annotations=annotations),
                                          data={CONFIGMAP_KEY: text})
                core.create_namespaced_config_map(namespace, body)
                return
            cm.data = dict(cm.data or {}, **{CONFIGMAP_KEY: text})
            cm.metadata.annotations = dict(cm.metadata.annotations or {}, **annotations)
            core.replace_namespaced_config_map(name, namespace, cm)
            return
        except ApiException as exc:
            if exc.status == 409:
                continue
            raise errors.UpstreamError(f"configmap {namespace}/{name}: Kubernetes API answered {exc.status} "
                                       f"{exc.reason}") from None
        except Exception as exc:  # connection refused, TLS, DNS: one line
            raise errors.UpstreamError(f"configmap {namespace}/{name}: cannot reach the Kubernetes API: "
                                       f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    raise errors.UpstreamError(f"configmap {namespace}/{name}: still conflicting after 5 attempts")
