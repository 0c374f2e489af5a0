"""``scalelab sweep``: the click command (registered on the ``scalelab`` group by ``workbench.cli``).

    scalelab sweep --policy BASE.yaml --space SPACE.yaml --scenarios A.yaml [B.yaml ...] --out DIR
                   [--executor local|dask://HOST:PORT] [--workers N] [--samples N] [--seed N] [--no-plot]

Exit codes: 0 a best variant was found and written; 1 no variant (nor the base) is feasible
(one line naming the closest variant; every other output is still written); 2 a bad space,
policy, scenario or flag (one line); 3 the Dask scheduler cannot be reached or its workers
cannot run scalelab.
"""

from __future__ import annotations

from typing import Any

import click

from workbench.core import errors

__all__ = ["sweep_command"]


class _Many(click.Option):
    """An option taking every following argument up to the next option: ``--scenarios A B C``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("multiple", True)
        super().__init__(*args, **kwargs)

    def add_to_parser(self, parser: Any, ctx: click.Context) -> None:
        super().add_to_parser(parser, ctx)
        opt = parser._long_opt.get(self.opts[0]) or parser._short_opt.get(self.opts[0])
        process_one = opt.process

        def process(value: Any, state: Any) -> None:
            process_one(value, state)
            while state.rargs and not state.rargs[0].startswith("-"):
                process_one(state.rargs.pop(0), state)
        opt.process = process


class _OneLineErrors(click.Command):
    """Flag errors become one ``UserError`` line (exit 2) instead of click's usage block."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise errors.UserError(exc.format_message()) from None


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    return str(value)


@click.command("sweep", cls=_OneLineErrors)
@click.option("--policy", "policy_path", required=True, type=click.Path(dir_okay=False),
              help="the base policy YAML the space varies")
@click.option("--space", "space_path", required=True, type=click.Path(dir_okay=False),
              help="the SPACE.yaml: parameters, mode, objective, constraints")
@click.option("--scenarios", cls=_Many, required=True, type=click.Path(dir_okay=False),
              help="scenario files (scores are aggregated over them)")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="output folder (results, pareto.png, best.yaml, sweep.json, runs/ — reused on a rerun)")
@click.option("--executor", default="local", show_default=True,
              help="local (process pool) or dask://HOST:PORT (a Dask scheduler)")
@click.option("--workers", type=click.IntRange(1, 1024), help="local processes (default: CPU count)")
@click.option("--samples", type=click.IntRange(1, 10_000_000),
              help="random mode: how many variants; grid: a random subset of this size")
@click.option("--seed", type=click.IntRange(0, None), help="override the space's seed")
@click.option("--no-plot", is_flag=True, help="skip pareto.png")
def sweep_command(policy_path: str, space_path: str, scenarios: tuple[str, ...], out_dir: str, executor: str,
                  workers: int | None, samples: int | None, seed: int | None, no_plot: bool) -> None:
    """Grid or random search over a policy's parameters: Pareto front of cost vs SLA misses and
    the best feasible variant as a ready-to-use policy (best.yaml). Resumable: finished runs in
    OUT/runs/ are reused."""
    from workbench.sweep.run import run_sweep

    result = run_sweep(policy_path, space_path, list(scenarios), out_dir, executor=executor, workers=workers,
                       samples=samples, seed=seed, plot=not no_plot)
    c = result.counts
    sp = result.space
    click.echo(f"sweep: {c['variants']} variants ({sp.mode}) + the base on {len(result.scenarios)} scenario"
               f"{'' if len(result.scenarios) == 1 else 's'}: {c['distinct_runs']} runs, {c['executed']} executed, "
               f"{c['reused']} reused ({result.executor}, {result.wall_seconds:.1f} s)")
    click.echo(f"valid {c['valid']}, invalid {c['invalid']}; feasible {c['feasible']}; on the Pareto front "
               f"{c['on_front']}")
    if result.invalid:
        first = result.invalid[0]
        click.echo(f"warning: {len(result.invalid)} variant{'s are' if len(result.invalid) > 1 else ' is'} not a "
                   f"valid policy (first: {first.id}: {first.error}); see sweep.json", err=True)
    table = result.table
    base = table.iloc[0]
    shown = ["cost_replica_hours", "sla_violation_seconds", "sla_violation_request_share", "scale_events"]
    if sp.objective.key not in shown:
        shown.insert(0, sp.objective.label)
    written = "results.csv, results.parquet" + ("" if no_plot else ", pareto.png")
    if result.best is not None:
        best = table[table["variant"] == result.best["variant"]].iloc[0]
        params = ", ".join(f"{p.name}={_fmt(best[p.name])}" for p in sp.parameters)
        click.echo(f"best: {best['variant']} ({sp.sense} {sp.objective.label} = {_fmt(best['objective'])}): {params}")
        for key in shown:
            click.echo(f"  {key:<34} {_fmt(best[key]):>14}   base {_fmt(base[key]):>14}")
        click.echo(f"wrote {out_dir}/{written}, best.yaml, sweep.json, runs/")
        return
    click.echo(f"wrote {out_dir}/{written}, sweep.json, runs/")
    raise errors.ScalelabError(result.message or "no feasible variant")
