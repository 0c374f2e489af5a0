"""The pure decision core: no I/O, no clock, no global RNG, no simulator, no Kubernetes.

``decide(observation, state, spec, now) -> (decision, state)`` is the one entry point the
simulator and the live controller share (see ``workbench.core.policies``).
"""
