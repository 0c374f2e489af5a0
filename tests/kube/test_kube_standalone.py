"""``python -m controller.testing`` runs the emulator standalone until SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from kubernetes import client

REPO = Path(__file__).resolve().parents[2]


def test_standalone_emulator_prints_its_url_answers_and_stops_on_sigterm():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-m", "controller.testing", "--port", "0",
                                "--deployment", "shop/web=3"],
                               cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), process.stderr.read() if process.poll() is not None else url
        config = client.Configuration(host=url, no_proxy="*")
        with client.ApiClient(config) as api_client:
            assert client.VersionApi(api_client).get_code().major == "1"
            scale = client.AppsV1Api(api_client).read_namespaced_deployment_scale("web", "shop")
            assert (scale.spec.replicas, scale.status.selector) == (3, "app=web")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
        process.stdout.close()
        process.stderr.close()
