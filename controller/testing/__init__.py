"""Test support for the live controller: a stateful Kubernetes API emulator over real HTTP.

``KubeEmulator`` (``kube_emulator``) is the entry point; ``python -m controller.testing`` runs one
standalone. Nothing here imports the workbench.
"""

from controller.testing.kube_emulator import KubeEmulator
from controller.testing.kube_faults import Record, RequestInfo, Rule

__all__ = ["KubeEmulator", "Record", "RequestInfo", "Rule"]
