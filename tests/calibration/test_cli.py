"""``scalelab calibrate`` as a click command object: exit 0 with the table and files, exit 2 with
one line and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.calibration import synth
from workbench.calibration.cli import calibrate_command
from workbench.sim.scenario import parse_scenario


def run(*args: str):
    result = CliRunner().invoke(calibrate_command, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("history") / "history.parquet"
    synth.history(synth.Truth(), days=1.0).to_parquet(path, index=False)
    return path


def test_writes_yaml_figure_and_prints_the_table(history, tmp_path):
    out = tmp_path / "service.yaml"
    code, stdout, stderr = run("--history", str(history), "--out", str(out), "--cpu-request", "0.5",
                               "--memory-limit-mb", "1024")
    assert (code, stderr) == (0, "")
    assert (tmp_path / "service.png").read_bytes()[:4] == b"\x89PNG"  # default: next to --out
    lines = stdout.splitlines()
    assert lines[0] == f"history   {history}"
    assert any(line.startswith("latency  workers 4  service 40 ms") for line in lines)
    assert lines[-1] == f"wrote {out}, {tmp_path / 'service.png'}"
    text = out.read_text()
    svc = parse_scenario("trace: {synthetic: {shape: constant, base: 10}}\n" + text, "s.yaml").service
    assert (svc.workers_per_pod, svc.cpu_request_cores, svc.memory_limit_mb) == (4, 0.5, 1024.0)


FIGURES = [
    pytest.param(("--figure", "{d}/plots/fit.png"), ["plots", "service.yaml"], id="figure-elsewhere"),
    pytest.param(("--no-figure",), ["service.yaml"], id="no-figure"),
]


@pytest.mark.parametrize("flags, files", FIGURES)
def test_figure_flags(history, tmp_path, flags, files):
    code, stdout, _ = run("--history", str(history), "--out", str(tmp_path / "service.yaml"),
                          *(f.format(d=tmp_path) for f in flags))
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == files
    assert stdout.splitlines()[-1].startswith(f"wrote {tmp_path / 'service.yaml'}")


def _short_csv(d: Path) -> Path:
    path = d / "short.csv"
    path.write_text("timestamp,qps,replicas,p95_ms\n" + "".join(
        f"2024-03-01T00:{m:02d}:00Z,{100 + m},2,{50 + m}\n" for m in range(20)))
    return path


ERRORS = [
    pytest.param(lambda d: ["--history", str(_short_csv(d))],
                 "error: {d}/short.csv: history too short: 20 samples with qps and replicas over 20m; "
                 "need at least 30 samples spanning 1h", id="too-short"),
    pytest.param(lambda d: ["--history", str(d / "none.parquet")], "error: {d}/none.parquet: no such file",
                 id="no-such-file"),
]


@pytest.mark.parametrize("args, message", ERRORS)
def test_refusal_is_one_line_exit_2_and_writes_nothing(tmp_path, args, message):
    code, stdout, stderr = run(*args(tmp_path), "--out", str(tmp_path / "out" / "service.yaml"))
    assert (code, stdout) == (2, "")
    assert stderr == message.format(d=tmp_path) + "\n"
    assert not (tmp_path / "out").exists()


USAGE = [
    pytest.param(["--cpu-request", "0"], "--cpu-request", id="zero-cpu-request"),
    pytest.param(["--memory-limit-mb", "-5"], "--memory-limit-mb", id="negative-memory-limit"),
    pytest.param(["--slo-p95-ms", "abc"], "--slo-p95-ms", id="slo-not-a-number"),
    pytest.param(["--figure", "f.png", "--no-figure"], "--figure and --no-figure exclude each other", id="figure-and-no-figure"),
]


@pytest.mark.parametrize("flags, mentions", USAGE)
def test_bad_flags_exit_2(history, tmp_path, flags, mentions):
    code, _, stderr = run("--history", str(history), "--out", str(tmp_path / "s.yaml"), *flags)
    assert code == 2 and mentions in stderr
    assert list(tmp_path.iterdir()) == []


def test_missing_required_options_exit_2():
    code, _, stderr = run("--out", "x.yaml")
    assert code == 2 and "--history" in stderr


def test_under_the_scalelab_group_a_refusal_still_exits_2(tmp_path):
    import click

    from workbench.cli import _Group

    @click.group(cls=_Group)
    def group() -> None:
        pass

    group.add_command(calibrate_command)
    result = CliRunner().invoke(group, ["calibrate", "--history", str(tmp_path / "none.csv"),
                                        "--out", str(tmp_path / "s.yaml")])
    assert result.exit_code == 2
    assert result.stderr == f"error: {tmp_path / 'none.csv'}: no such file\n"
