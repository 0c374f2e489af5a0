"""Figures and reports built from simulator records (matplotlib, headless)."""
