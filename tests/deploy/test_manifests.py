"""deploy/: the Kubernetes manifests validate against the Kubernetes schema, RBAC is least
privilege, the Grafana dashboard only queries metrics the controller exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
MANIFESTS = sorted(p for p in (DEPLOY / "kubernetes").glob("*.yaml") if p.name != "kustomization.yaml")
K8S_VERSION = "1.30"
EXPORTED = {"autoscaler_decisions_total", "autoscaler_current_replicas", "autoscaler_desired_replicas",
            "autoscaler_metric_value", "autoscaler_circuit_state", "autoscaler_lock_held",
            "autoscaler_policy_reloads_total", "autoscaler_loop_duration_seconds",
            "autoscaler_observation_failures_total"}


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_validates_against_the_kubernetes_schema(path):
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_kustomization_lists_every_manifest():
    k = yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text())
    assert sorted(k["resources"]) == sorted(p.name for p in MANIFESTS)


def test_role_is_least_privilege():
    role = yaml.safe_load((DEPLOY / "kubernetes" / "role.yaml").read_text())
    rules = {(tuple(r["apiGroups"]), tuple(r["resources"]), tuple(r["verbs"]), tuple(r.get("resourceNames", ())))
             for r in role["rules"]}
    assert rules == {
        (("apps",), ("deployments/scale", "statefulsets/scale"), ("get", "patch"), ()),
        (("coordination.k8s.io",), ("leases",), ("get", "create", "update"), ()),
        (("",), ("events",), ("create",), ()),
        (("",), ("configmaps",), ("get",), ("scalelab-policy",)),
    }
    assert role["kind"] == "Role"  # namespaced, never a ClusterRole


def test_policy_configmap_holds_a_valid_policy():
    from workbench.core import loading
    cm = yaml.safe_load((DEPLOY / "kubernetes" / "configmap-policy.yaml").read_text())
    spec = loading.load_policy_text(cm["data"]["policy.yaml"], "configmap-policy.yaml")
    assert spec.name == "seed-tiered"


def test_bindings_configmap_holds_valid_bindings():
    from workbench.sources import bindings
    cm = yaml.safe_load((DEPLOY / "kubernetes" / "configmap-bindings.yaml").read_text())
    b = bindings.parse_bindings(cm["data"]["bindings.yaml"], "configmap-bindings.yaml")
    assert set(b.render()) >= {"cpu", "qps", "p95_ms"}


def test_dashboard_queries_only_exported_metrics():
    dash = json.loads((DEPLOY / "grafana" / "scalelab-controller.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    used = set()
    for e in exprs:
        used |= {m.removesuffix("_bucket") for m in re.findall(r"\b(autoscaler_[a-z_]+)", e)}
    assert used and used <= EXPORTED
    assert {p["id"] for p in dash["panels"]} == set(range(1, len(dash["panels"]) + 1))


def test_dockerfile_copies_what_exists():
    text = (DEPLOY / "Dockerfile").read_text()
    for src in re.findall(r"^COPY (?!--from)(.+?) \S+$", text, flags=re.M):
        for item in src.split():
            assert (DEPLOY.parent / item).exists(), item


def test_deployment_args_are_valid_controller_flags():
    from controller.cli import controller_group
    dep = yaml.safe_load((DEPLOY / "kubernetes" / "deployment.yaml").read_text())
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    ctx = controller_group.commands["run"].make_context("run", list(args))  # parses and type-checks
    assert ctx.params["lock"] == "lease" and ctx.params["metrics_port"] == 9102


def test_the_controller_exports_every_metric_the_dashboard_and_docs_name():
    text = (Path(__file__).resolve().parents[2] / "controller" / "telemetry.py").read_text()
    declared = set(re.findall(r'"(autoscaler_[a-z_]+)"', text))
    exported = declared | {name + "_total" for name in declared}  # prometheus-client adds _total to counters
    assert exported >= EXPORTED
