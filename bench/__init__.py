"""Benchmarks: each runs as ``python -m bench.<name>`` and ends with ``name: value unit (target: ...)`` lines."""
