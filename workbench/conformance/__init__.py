"""Conformance runners: replay transcribed upstream test vectors through the workbench's core.

``workbench.conformance.hpa`` runs the Kubernetes HPA vectors (``replica.json``/``behavior.json``
format, see ``data/conformance/hpa/ALGORITHM.md``) through the same functions
``HPAPolicy.decide`` uses and reports per-kind pass/fail/skip counts.
"""
