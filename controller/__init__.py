"""The live controller: a thin shell around ``workbench.core`` (see issue: live controller).

Not built yet. It will observe through metric bindings (Prometheus), decide with
``workbench.core.policies.decide`` and act on the Kubernetes ``scale`` subresource.
"""
