"""``scalelab``: the command line. Thin: parse flags, call the public API, print.

Errors: a ``ScalelabError`` becomes one line on stderr and its exit code (2 for bad input, 3 for
an upstream failure); click's own usage errors exit 2. Any other exception is a bug: one line
naming it (set ``SCALELAB_DEBUG=1`` for the traceback) and exit 70.
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any

import click

from workbench import __version__
from workbench.core import errors


PLUGIN_GROUP = "scalelab.commands"
"""Commands that live with their subsystem register as entry points in this group (pyproject.toml)
and are imported only when used: ``fetch``, ``calibrate``, and ``controller`` (the live controller
is a separate layer the workbench never imports)."""


PLUGIN_HELP = {
    "fetch": "Fetch the bound PromQL queries over a time range into a cached Parquet history.",
    "calibrate": "Fit the service model (CPU, memory, latency, capacity) from a metrics history.",
    "controller": "Run policies live against Kubernetes with every safety guard.",
    "sweep": "Grid or random search over a policy's parameters: Pareto front and best.yaml.",
}


class _Group(click.Group):
    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List plugin commands from their entry points without importing them (fast --help)."""
        rows = []
        for name in self.list_commands(ctx):
            if name in self.commands:
                rows.append((name, self.commands[name].get_short_help_str(limit=formatter.width)))
            else:
                rows.append((name, PLUGIN_HELP.get(name, "")))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def _plugins(self) -> dict[str, Any]:
        from importlib.metadata import entry_points

        return {ep.name: ep for ep in entry_points(group=PLUGIN_GROUP)}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._plugins()))

    def get_command(self, ctx: click.Context, name: str) -> Any:
        command = super().get_command(ctx, name)
        if command is None and name in (plugins := self._plugins()):
            command = plugins[name].load()
        return command

    def main(self, *args: Any, **kwargs: Any) -> Any:  # one place that maps errors to exit codes
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
            if isinstance(rv, int) and rv:  # a ctx.exit(code) under standalone_mode=False comes back here
                sys.exit(rv)
            return rv
        except click.exceptions.Abort:
            click.echo("aborted", err=True)
            sys.exit(130)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except errors.ScalelabError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # a bug: say so in one line unless debugging
            if os.environ.get("SCALELAB_DEBUG"):
                raise
            click.echo(f"internal error: {type(exc).__name__}: {exc} (set SCALELAB_DEBUG=1 for a traceback)", err=True)
            sys.exit(70)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="scalelab")
def main() -> None:
    """scalelab: backtest autoscaling policies on real traffic, then run the winner live."""


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isinf(value) or math.isnan(value):
            return str(value)
        return f"{value:,.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    return str(value)


_TABLE = (
    ("cost", (("replica-hours", "cost_replica_hours"), ("cost", "cost"),
              ("oracle replica-hours", "oracle_cost_replica_hours"), ("cost / oracle", "oracle_cost_ratio"))),
    ("SLA", (("seconds over SLO", "sla_violation_seconds"), ("share of requests over SLO", "sla_violation_request_share"),
             ("dropped requests", "dropped_requests"))),
    ("oscillation", (("scale events", "scale_events"), ("direction reversals", "direction_reversals"),
                     ("flaps", "flaps"))),
    ("elasticity (SPEC)", (("θ_U under-provision accuracy %", "theta_u"), ("θ_O over-provision accuracy %", "theta_o"),
                           ("τ_U under-provision time %", "tau_u"), ("τ_O over-provision time %", "tau_o"),
                           ("υ instability %", "instability"), ("jitter (adaptations/h)", "jitter"))),
    ("run", (("simulated seconds", "simulated_seconds"), ("ticks", "ticks"))),
)


def render_table(summary: dict[str, Any]) -> str:
    lines = [f"{summary['policy']}  on  {summary['scenario']}"]
    meta = summary.get("meta", {})
    if meta:
        lines.append(f"  trace {meta.get('trace')} [{meta.get('column')}] from {meta.get('start')}, "
                     f"every {meta.get('interval_seconds'):g}s, SLO p95 {meta.get('slo_p95_ms'):g} ms")
    for section, rows in _TABLE:
        lines.append(f"{section}")
        for label, key in rows:
            if key in summary:
                lines.append(f"  {label:<34} {_fmt(summary[key]):>14}")
    return "\n".join(lines)


@main.command()
@click.option("--policy", "policy_path", required=True, type=click.Path(dir_okay=False), help="policy YAML file")
@click.option("--scenario", "scenario_path", required=True, type=click.Path(dir_okay=False), help="scenario YAML file")
@click.option("--trace", type=click.Path(dir_okay=False), help="replay this CSV/Parquet trace instead of the scenario's")
@click.option("--column", help="the trace column holding requests/s (with --trace; default: the scenario's)")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="write records.parquet, scores.json, timeline.png here")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object with the scores to stdout")
@click.option("--no-plot", is_flag=True, help="with --out: skip timeline.png")
def backtest(policy_path: str, scenario_path: str, trace: str | None, column: str | None, out_dir: str | None,
             as_json: bool, no_plot: bool) -> None:
    """Replay a scenario's traffic against a policy and score cost, SLA misses and flapping."""
    from workbench import backtest as api
    from workbench.reports.progress import progress_bar

    if column is not None and trace is None:
        raise click.UsageError("--column needs --trace")
    policy = api.load_policy(policy_path)
    scenario = api.load_scenario(scenario_path)
    with progress_bar("simulating") as progress:
        result = api.run(policy, scenario, trace=trace, column=column, progress=progress)
    for warning in result.meta.get("warnings", []):
        click.echo(f"warning: {warning}", err=True)
    if out_dir:
        api.write_outputs(result, out_dir, plot=not no_plot)
    if as_json:
        click.echo(json.dumps(result.summary(), default=str))
    else:
        click.echo(render_table(result.summary()))
        if out_dir:
            click.echo(f"wrote {out_dir}/records.parquet, scores.json{'' if no_plot else ', timeline.png'}")


class _Greedy(click.Option):
    """An option that takes every following argument up to the next option: `--policies A B C`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("multiple", True)
        super().__init__(*args, **kwargs)

    def add_to_parser(self, parser: Any, ctx: click.Context) -> None:
        super().add_to_parser(parser, ctx)
        name = self.opts[0]
        opt = parser._long_opt.get(name) or parser._short_opt.get(name)
        original = opt.process

        def process(value: Any, state: Any) -> None:
            values = [value]
            while state.rargs and not state.rargs[0].startswith("-"):
                values.append(state.rargs.pop(0))
            for v in values:
                original(v, state)
        opt.process = process


@main.command()
@click.option("--policies", cls=_Greedy, required=True, type=click.Path(dir_okay=False), help="policy files")
@click.option("--scenarios", cls=_Greedy, required=True, type=click.Path(dir_okay=False), help="scenario files")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="output folder")
@click.option("--workers", type=click.IntRange(1, 256), help="parallel processes (default: CPU count)")
def compare(policies: tuple[str, ...], scenarios: tuple[str, ...], out_dir: str, workers: int | None) -> None:
    """Every policy on every scenario, in parallel: results.csv/.parquet, a cost-vs-SLA figure and
    per-scenario overlay timelines."""
    from workbench import compare as cmp
    from workbench.reports.progress import progress_bar

    with progress_bar("backtests", enabled=None) as progress:
        table = cmp.run_to_folder(list(policies), list(scenarios), out_dir, workers=workers, progress=progress)
    click.echo(cmp.markdown_table(table))
    click.echo(f"wrote {out_dir}/results.csv, results.parquet, cost_vs_sla.png, timeline-*.png, records/")


@main.command()
@click.option("--results", required=True, type=click.Path(exists=False), help="results folder (compare/backtest --out) or file")
@click.option("--baseline", type=click.Path(dir_okay=True), help="baseline results (folder, .parquet, .csv or scores.json)")
@click.option("--thresholds", type=click.Path(dir_okay=False), help="regression thresholds YAML")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="report folder")
def report(results: str, baseline: str | None, thresholds: str | None, out_dir: str) -> None:
    """HTML + Markdown + JSON report; exit 1 when the candidate regresses against the baseline."""
    from workbench.reports import report as rep

    verdict = rep.build(results, out_dir, baseline=baseline, thresholds=thresholds)
    click.echo(f"wrote {out_dir}/report.html, summary.md, report.json")
    if verdict.unmatched:
        click.echo(f"note: no baseline for scenario(s) {', '.join(verdict.unmatched)}", err=True)
    if verdict.passed:
        click.echo("gate: PASSED" + (" (no baseline given)" if baseline is None else ""))
        return
    for r in verdict.regressions:
        click.echo(f"regression: {r}", err=True)
    click.echo(f"gate: FAILED ({len(verdict.regressions)} regression{'s' if len(verdict.regressions) != 1 else ''})")
    sys.exit(1)


@main.command()
@click.option("--policy", "policy_path", required=True, type=click.Path(dir_okay=False), help="the policy to promote")
@click.option("--results", required=True, type=click.Path(file_okay=False), help="a report folder that gated it")
@click.option("--to", "target", required=True, help="file:PATH or configmap:NAMESPACE/NAME")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="for configmap targets (default: in-cluster or ~/.kube/config)")
def promote(policy_path: str, results: str, target: str, kubeconfig: str | None) -> None:
    """Write a policy that passed the gate where the controller hot-reloads it, with an audit record."""
    from workbench import promote as prom

    api_client = None
    if target.startswith("configmap:"):
        api_client = _kube_client(kubeconfig)
    record = prom.promote(policy_path, results, target, kube_client=api_client)
    click.echo(f"promoted {record['policy']} (hash {record['policy_hash']}) to {target}")


def _kube_client(kubeconfig: str | None) -> Any:
    from kubernetes import client, config

    try:
        if kubeconfig:
            return config.new_client_from_config(config_file=kubeconfig)
        try:
            config.load_incluster_config()
            return client.ApiClient()
        except config.ConfigException:
            return config.new_client_from_config()
    except Exception as exc:
        raise errors.UserError(f"cannot load Kubernetes configuration: {str(exc).splitlines()[0]}") from None


@main.group()
def conformance() -> None:
    """Run upstream conformance vectors through the decision core."""


@conformance.command("hpa")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def conformance_hpa(files: tuple[str, ...]) -> None:
    """Run Kubernetes HPA case files (replica.json / behavior.json format) through the HPAPolicy
    code the simulator uses. Prints a per-kind table and `N passed, M failed, K skipped`; exit 1
    if any case failed."""
    from workbench.conformance import hpa

    code = hpa.main(list(files))
    if code:
        sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
