"""Reads stores (plain xarray) and turns them into numbers and figures; never starts a cluster."""
