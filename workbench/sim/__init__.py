"""The SimPy simulator: scenarios, service model, pods, the event-driven engine and its records."""
