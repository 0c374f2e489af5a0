"""Run the Kubernetes API emulator standalone: ``python -m controller.testing --port 0``.

Prints ``http://127.0.0.1:PORT`` on the first line of stdout, then serves until SIGTERM/SIGINT.
``--deployment shop/web=3`` (repeatable) seeds Deployments.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from controller.testing.kube_emulator import KubeEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m controller.testing", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--rollout-delay", type=float, default=0.0,
                        help="seconds before status.replicas follows spec.replicas")
    parser.add_argument("--deployment", action="append", default=[], metavar="NS/NAME=REPLICAS",
                        help="seed a Deployment (repeatable)")
    args = parser.parse_args(argv)

    seeds = []
    for spec in args.deployment:
        try:
            target, replicas = spec.rsplit("=", 1)
            namespace, name = target.split("/", 1)
            seeds.append((namespace, name, int(replicas)))
        except ValueError:
            parser.error(f"--deployment {spec!r}: expected NS/NAME=REPLICAS")

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with KubeEmulator(args.host, args.port, rollout_delay=args.rollout_delay) as kube:
        for namespace, name, replicas in seeds:
            kube.add_deployment(namespace, name, replicas)
        print(kube.url, flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
