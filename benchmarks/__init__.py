"""Benchmarks: run with ``python -m benchmarks [--quick] [--output json]``."""
