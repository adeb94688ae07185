"""Orchestration of sweeps: spec, grid plan, Zarr store, clusters, runner.

Knows models only through the contract of :mod:`epmsweep.model.core`.
"""
