"""Real Prometheus servers for the tests: backfilled with promtool, on free loopback ports.

* ``prom`` (session): the datasets of ``data.py`` backfilled with
  ``promtool tsdb create-blocks-from openmetrics`` into a fresh temporary folder *before* the
  server starts (blocks added to a running server show up only after ~1 min), started with its
  own config (no scrape jobs), ``--query.lookback-delta=1m`` (backfilled series carry no
  staleness markers) and a long retention (data from 2016).
* ``secure_prom`` (session): an empty server behind basic auth (bcrypt hash) and, when
  ``openssl`` is available, TLS with a fresh self-signed certificate.

Servers are stopped by the PID recorded at start (terminate, wait, kill if needed), never by name.
The binaries come from Debian's ``prometheus`` package (``scripts/ensure-services.sh``).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import warnings
from pathlib import Path

import pytest
import requests

from tests.prometheus import data

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
OPENSSL = shutil.which("openssl")
USER, PASSWORD = "scalelab", "s3cret"
# bcrypt of PASSWORD at cost 4 (fast to check): crypt.crypt("s3cret", crypt.mksalt(METHOD_BLOWFISH, rounds=16))
PASSWORD_HASH = "$2b$04$nUaLNsGmLj.nwJ84h6aRb.SgPp35sKh6EShK6omv38tHPL/gh0Pla"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _need_binaries() -> None:
    if not (PROMETHEUS and PROMTOOL):
        pytest.fail("prometheus/promtool not installed: run scripts/ensure-services.sh (Debian package prometheus)")


class PromServer:
    """One Prometheus process on 127.0.0.1; ``url`` once ready."""

    def __init__(self, root: Path, *, web_config: Path | None = None, scheme: str = "http",
                 extra: tuple[str, ...] = ()):
        self.root, self.scheme = root, scheme
        self.data = root / "data"
        self.web_config, self.extra = web_config, extra
        self.proc: subprocess.Popen | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self, *, auth: tuple[str, str] | None = None) -> "PromServer":
        config = self.root / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
        for attempt in range(3):  # a free port may be taken between probing and binding
            self.port = free_port()
            args = [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={self.data}",
                    "--storage.tsdb.retention.time=36500d", f"--web.listen-address=127.0.0.1:{self.port}",
                    "--query.lookback-delta=1m", "--log.level=warn", *self.extra]
            if self.web_config is not None:
                args.append(f"--web.config.file={self.web_config}")
            log = open(self.root / "prometheus.log", "ab")
            self.proc = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
            log.close()
            if self._wait_ready(auth):
                return self
            self.stop()
        tail = (self.root / "prometheus.log").read_text(errors="replace")[-2000:]
        pytest.fail(f"prometheus did not become ready:\n{tail}")

    def _wait_ready(self, auth) -> bool:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # the probe skips TLS verification on purpose
                    if requests.get(f"{self.url}/-/ready", auth=auth, verify=False, timeout=1).status_code == 200:
                        return True
            except requests.RequestException:
                pass
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()  # by the PID we started, never by name
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture(scope="session")
def backfill(tmp_path_factory):
    """The datasets, rendered to OpenMetrics and turned into TSDB blocks in a fresh folder."""
    _need_binaries()
    root = tmp_path_factory.mktemp("prom-main")
    source = root / "backfill.om"
    datasets = data.build(source)
    result = subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=720h",
                             str(source), str(root / "data")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    source.unlink()
    return root, datasets


@pytest.fixture(scope="session")
def datasets(backfill) -> data.Datasets:
    return backfill[1]


@pytest.fixture(scope="session")
def prom(backfill):
    server = PromServer(backfill[0]).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def secure_prom(tmp_path_factory):
    """Basic auth (and TLS when openssl exists); ``.ca`` is the certificate file or None."""
    _need_binaries()
    root = tmp_path_factory.mktemp("prom-secure")
    lines = []
    ca = None
    if OPENSSL:
        ca, key = root / "cert.pem", root / "key.pem"
        subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", str(key), "-out", str(ca), "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=60)
        lines += ["tls_server_config:", f"  cert_file: {ca}", f"  key_file: {key}"]
    lines += ["basic_auth_users:", f"  {USER}: {PASSWORD_HASH}"]
    web = root / "web.yml"
    web.write_text("\n".join(lines) + "\n")
    server = PromServer(root, web_config=web, scheme="https" if ca else "http").start(auth=(USER, PASSWORD))
    server.ca = str(ca) if ca else None
    yield server
    server.stop()


@pytest.fixture
def silent_port():
    """A loopback port that accepts connections but never answers (a hung server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


@pytest.fixture
def dead_port() -> int:
    """A loopback port nobody listens on."""
    return free_port()

