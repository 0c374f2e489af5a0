"""``scalelab controller run``: the live controller's command line (thin: flags -> Settings -> run).

``controller_group`` is a click group; the workbench CLI registers it as ``scalelab controller``,
and ``python -m controller.cli`` runs it standalone. Errors are one line on stderr: bad flags or
configuration exit 2, an unreachable upstream at start-up (e.g. the ConfigMap holding the policy)
exits 3. SIGTERM and SIGINT stop the loop cleanly (locks released, log flushed) with exit 0.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import Any

import click

from workbench.core import errors

_DURATION_HELP = "seconds (or 90s, 2m)"


class Duration(click.ParamType):
    name = "duration"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        from workbench.core import schema

        seconds = schema.parse_duration(value)
        if seconds is None:
            self.fail(f"expected seconds or a duration like 90s, 2m; got {value!r}", param, ctx)
        return seconds


DURATION = Duration()


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {errors.one_line(message)}", err=True)
    sys.exit(code)


@click.group(name="controller", context_settings={"help_option_names": ["-h", "--help"]})
def controller_group() -> None:
    """The live controller: run a policy against real workloads."""


class _OneLineCommand(click.Command):
    """Usage errors as one line (``Error: No such option: --bogus``), exit 2: no usage dump."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            exc.ctx = None
            raise


@controller_group.command("run", cls=_OneLineCommand)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="ControllerConfig YAML listing targets.")
@click.option("--policy", help="Policy file or configmap:NS/NAME (key policy.yaml); hot-reloaded.")
@click.option("--bindings", help="MetricBindings file: metric names -> PromQL.")
@click.option("--target", help="NAMESPACE/KIND/NAME, KIND deployment or statefulset.")
@click.option("--shadow", "shadows", multiple=True, help="Candidate policy that decides and logs but never acts (repeatable).")
@click.option("--prometheus", "prometheus_url", help="Prometheus base URL, e.g. http://prometheus:9090.")
@click.option("--prometheus-timeout", type=DURATION, help=f"Per query; default 5 ({_DURATION_HELP}).")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="Kubeconfig file (default: in-cluster).")
@click.option("--lock", help="lease (default) | redis://[:PASSWORD@]HOST:PORT/KEY | none.")
@click.option("--lock-ttl", type=DURATION, help="Lease duration / Redis key TTL; default 15.")
@click.option("--lock-renew", type=DURATION, help="Heartbeat period; default 5 (< --lock-ttl).")
@click.option("--identity", help="This replica's name in locks and Events; default $POD_NAME or HOST-PID.")
@click.option("--dry-run", is_flag=True, default=None, help="Decide and log everything, never write the scale.")
@click.option("--once", is_flag=True, default=None, help="Run one loop, then exit.")
@click.option("--interval", type=DURATION, help="Seconds between loops; default 15.")
@click.option("--min-interval", type=DURATION, help="At most one change per target per this long; default 60.")
@click.option("--max-age", type=DURATION, help="A sample older than this is stale; default 2 x --interval; 0 = off.")
@click.option("--fallback-replicas", type=click.IntRange(min=0), help="Run at least N after --fallback-after failed observations.")
@click.option("--fallback-after", type=click.IntRange(min=1), help="Consecutive failed observations before the fallback; default 3.")
@click.option("--breaker-failures", type=click.IntRange(min=1), help="Consecutive API failures that open the circuit; default 3.")
@click.option("--breaker-cooloff", type=DURATION, help="Seconds the open circuit waits before a probe; default 60.")
@click.option("--api-timeout", type=DURATION, help="Kubernetes API request timeout; default 5.")
@click.option("--api-retries", type=click.IntRange(min=0, max=10), help="Retries of transient API failures; default 2.")
@click.option("--workers", type=click.IntRange(min=1, max=64), help="Targets reconciled in parallel; default 4.")
@click.option("--metrics-port", type=click.IntRange(min=0, max=65535), help="/metrics, /healthz, /readyz port; 0 = off (default).")
@click.option("--metrics-address", help="Address the metrics server binds; default 0.0.0.0.")
@click.option("--decision-log", help="JSON-lines decision log file, or - for stdout (default).")
@click.option("--fsync", is_flag=True, default=None, help="fsync the decision log after every line.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              help="stderr log level.")
def run_command(config_path: str | None, log_level: str, fallback_replicas: int | None,
                fallback_after: int | None, **flags: Any) -> None:
    """Observe -> decide -> act on every target, every --interval seconds, until SIGTERM."""
    from controller import config, runner

    logging.basicConfig(stream=sys.stderr, level=getattr(logging, log_level.upper()),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if fallback_after is not None and fallback_replicas is None:
        _fail("--fallback-after needs --fallback-replicas", 2)
    if fallback_replicas is not None:
        flags["fallback"] = (fallback_after or 3, fallback_replicas)
    flags["shadows"] = tuple(flags.pop("shadows") or ())
    try:
        settings = config.build(flags, config_path)
        controller = runner.Controller(settings)
    except errors.SpecError as exc:
        _fail(str(exc), 2)
    except errors.ScalelabError as exc:
        _fail(str(exc), exc.exit_code)
    except OSError as exc:   # e.g. the decision log or the metrics port
        _fail(f"cannot start: {exc.strerror or exc}", 2)

    def on_signal(signum: int, frame: Any) -> None:
        logging.getLogger("scalelab.controller").warning("%s: stopping after the current step",
                                                         signal.Signals(signum).name)
        controller.stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        code = controller.run()
    except Exception as exc:  # a bug: one line unless debugging
        if os.environ.get("SCALELAB_DEBUG"):
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (set SCALELAB_DEBUG=1 for a traceback)", 70)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    sys.exit(code)


def main() -> None:
    """``python -m controller.cli``: click's usage errors exit 2, like the scalelab CLI."""
    controller_group(prog_name="scalelab controller")


if __name__ == "__main__":
    main()
