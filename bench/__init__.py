"""Liaison Desk benchmarks: `python -m bench.run` (see bench/run.py for the options)."""
