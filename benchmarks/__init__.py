"""Benchmarks: run as modules, e.g. `python -m benchmarks.reconcile`; DuckDB comes from the `bench` extra."""
