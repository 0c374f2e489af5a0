"""scalelab workbench: backtest autoscaling policies on real traffic.

Layers (enforced by ``.importlinter``): ``workbench.core`` is the pure decision core shared with
the live controller; ``traces`` loads load; ``sim`` is the SimPy shell around the core;
``scoring`` and ``reports`` read the simulator's flat records.
"""

__version__ = "0.1.0"
