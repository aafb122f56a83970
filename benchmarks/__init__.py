"""Benchmarks: `python -m benchmarks <name>`; results go to benchmarks/results/*.json and docs/benchmarks.md."""
