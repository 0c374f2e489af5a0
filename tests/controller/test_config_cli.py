"""Settings from flags and from a ControllerConfig file; bad input is one line and exit 2."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from controller import config
from controller.cli import controller_group
from workbench.core import errors
from tests.controller import support

GOOD = """apiVersion: scalelab/v1
kind: ControllerConfig
metadata: {name: shop}
spec:
  prometheus: {url: "http://prometheus:9090", timeout: 3s, retries: 2}
  lock: {backend: "redis://:pw@redis.shop:6380/scalelab", ttl: 20s, renew: 4s}
  interval: 10s
  minInterval: 2m
  fallback: {failureThreshold: 4, replicas: 5}
  breaker: {failures: 5, coolOff: 30s}
  api: {timeout: 2s, retries: 1}
  metricsPort: 9102
  decisionLog: logs/decisions.jsonl
  workers: 8
  targets:
    - target: shop/deployment/checkout
      policy: policies/checkout.yaml
      bindings: bindings/checkout.yaml
      shadow: [policies/candidate.yaml]
    - target: shop/sts/db
      policy: configmap:shop/db-policy
      bindings: /etc/scalelab/db.yaml
      minInterval: 0
      maxAge: 45s
      fallback: {failureThreshold: 2, replicas: 3}
"""


def test_a_config_file_lists_targets_with_their_own_settings(tmp_path):
    path = tmp_path / "controller.yaml"
    path.write_text(GOOD)
    s = config.build({"dry_run": True}, str(path))
    checkout, db = s.targets
    assert (checkout.ref.id, checkout.policy, checkout.bindings, checkout.shadows) == (
        "shop/deployment/checkout", str(tmp_path / "policies/checkout.yaml"), str(tmp_path / "bindings/checkout.yaml"),
        (str(tmp_path / "policies/candidate.yaml"),))
    assert (checkout.min_interval, checkout.max_age, checkout.fallback) == (120.0, None, config.Fallback(4, 5))
    assert (db.ref.id, db.policy, db.bindings, db.min_interval, db.max_age, db.fallback) == (
        "shop/statefulset/db", "configmap:shop/db-policy", "/etc/scalelab/db.yaml", 0.0, 45.0, config.Fallback(2, 3))
    assert (s.max_age(checkout), s.max_age(db)) == (20.0, 45.0)
    assert s.lock == config.LockSpec("redis", "redis.shop", 6380, "scalelab", "pw", ttl=20.0, renew=4.0)
    assert (s.prometheus_url, s.prometheus_timeout, s.prometheus_retries, s.interval, s.breaker_failures,
            s.breaker_cooloff, s.api_timeout, s.api_retries, s.metrics_port, s.workers, s.dry_run) == (
        "http://prometheus:9090", 3.0, 2, 10.0, 5, 30.0, 2.0, 1, 9102, 8, True)
    assert s.decision_log == str(tmp_path / "logs/decisions.jsonl")
    flags = config.build({"interval": 5.0, "lock": "none", "metrics_port": 0}, str(path))   # flags win
    assert (flags.interval, flags.lock.backend, flags.metrics_port, flags.max_age(flags.targets[0])) == (5.0, "none", 0,
                                                                                                      10.0)


def test_every_problem_in_a_config_file_is_reported_with_file_line_and_path(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("""apiVersion: scalelab/v1
kind: ControllerConfig
spec:
  prometheus: {url: "http://p:9090"}
  intervall: 10s
  breaker: {failures: 0}
  targets:
    - target: shop/cronjob/x
      policy: p.yaml
      bindings: b.yaml
    - target: shop/deployment/web
      policy: configmap:shop
      bindings: b.yaml
      maxAge: soon
    - target: shop/deployment/web
      policy: p.yaml
""")
    with pytest.raises(errors.SpecError) as info:
        config.build({}, str(path))
    report = info.value.full_report().splitlines()
    assert report == [
        f"{path}:5: spec.intervall: unknown key 'intervall'; did you mean 'interval'?",
        f"{path}:6: spec.breaker.failures: must be >= 1, got 0",
        f"{path}:8: spec.targets[0].target: 'shop/cronjob/x': kind must be deployment or statefulset, got 'cronjob'",
        f"{path}:12: spec.targets[1].policy: 'configmap:shop': expected configmap:NAMESPACE/NAME",
        f"{path}:14: spec.targets[1].maxAge: expected a duration (seconds, or like '90s', '3m', '1h'), got 'soon'",
        f"{path}:15: spec.targets[2]: missing required key 'bindings'",
        f"{path}:15: spec.targets[2].target: duplicate target shop/deployment/web (also at spec.targets[1])",
    ]


@pytest.mark.parametrize("args, message", [
    ([], "error: missing --prometheus URL (or spec.prometheus in --config)"),
    (["--prometheus", "http://p:9090"], "error: missing --target, --policy, --bindings (or give --config FILE listing targets)"),
    (["--prometheus", "ftp://p", "--target", "a/deployment/b"], "error: --prometheus 'ftp://p': expected http://HOST:PORT"
                                                                " or https://HOST:PORT"),
    (["--prometheus", "http://p:9090", "--target", "a/b", "--policy", "p", "--bindings", "b"],
     "error: --target: expected NAMESPACE/KIND/NAME (e.g. shop/deployment/web), got 'a/b'"),
    (["--prometheus", "http://p:9090", "--lock", "zookeeper"], "error: --lock: expected lease, none or "
                                                               "redis://HOST:PORT/KEY, got 'zookeeper'"),
    (["--prometheus", "http://p:9090", "--lock", "redis://host:1234"], "error: --lock: 'redis://host:1234': expected "
     "redis://HOST:PORT/KEY (KEY prefixes each target's lock key)"),
    (["--prometheus", "http://p:9090", "--lock-ttl", "5", "--lock-renew", "5"],
     "error: --lock-renew (5s) must be shorter than --lock-ttl (5s)"),
    (["--fallback-after", "3"], "error: --fallback-after needs --fallback-replicas"),
    (["--interval", "soon"], "Error: Invalid value for '--interval': expected seconds or a duration like 90s, 2m; "
                             "got 'soon'"),
    (["--bogus"], "Error: No such option '--bogus'."),
    (["--config", "c.yaml", "--target", "a/deployment/b", "--prometheus", "http://p:9090"],
     "error: give targets either in --config or with --target/--policy/--bindings, not both"),
], ids=["no-prometheus", "no-target", "bad-url", "bad-target", "bad-lock", "redis-no-key", "renew-ttl",
        "fallback-half", "bad-duration", "unknown-flag", "config-and-flags"])
def test_bad_flags_are_one_line_and_exit_2(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(GOOD)
    result = CliRunner().invoke(controller_group, ["run", *args])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == message


def test_bad_files_are_one_line_and_exit_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    support.policy_file(tmp_path, support.FAST_POLICY.replace("cpu > 0.70", "cpuu > 0.70"))
    (tmp_path / "b.yaml").write_text(support.bindings_text("web"))
    base = ["run", "--prometheus", "http://127.0.0.1:1", "--target", "shop/deployment/web", "--bindings", "b.yaml",
            "--kubeconfig", str(support.kubeconfig_file(tmp_path, "http://127.0.0.1:1"))]
    result = CliRunner().invoke(controller_group, [*base, "--policy", "policy.yaml"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == ["error: policy.yaml:12: spec.rules[1].when.any[0]: unknown metric 'cpuu' "
                                          "(known: cpu, memory, qps, p95_ms)"]
    result = CliRunner().invoke(controller_group, [*base, "--policy", "missing.yaml"])
    assert (result.exit_code, result.stderr.strip()) == (2, "error: missing.yaml: cannot read policy: No such file or "
                                                            "directory")
    result = CliRunner().invoke(controller_group, ["run", "--prometheus", "http://p:9090", "--target",
                                                   "shop/deployment/web", "--bindings", "b.yaml", "--policy",
                                                   str(support.policy_file(tmp_path, name="ok.yaml"))],
                                env={"KUBERNETES_SERVICE_HOST": ""})
    assert (result.exit_code, result.stderr.strip()) == (2, "error: no --kubeconfig given and not running in a "
                                                            "cluster (KUBERNETES_SERVICE_HOST is not set)")


@pytest.mark.parametrize("text, expected", [
    ("shop/deployment/web", ("shop", "deployment", "web")),
    ("shop/Deployment/web", ("shop", "deployment", "web")),
    ("shop/deploy/web", ("shop", "deployment", "web")),
    ("shop/sts/db-0.x", ("shop", "statefulset", "db-0.x")),
    ("shop/statefulsets/db", ("shop", "statefulset", "db")),
])
def test_target_references(text, expected):
    ref = config.TargetRef.parse(text)
    assert (ref.namespace, ref.kind, ref.name) == expected
    assert ref.api_kind in ("Deployment", "StatefulSet")
