"""Experiment configs shipped with the package (the demo's lives here)."""
