"""Benchmarks of asynctask against baselines measured in the same run: ``python -m benchmarks``.

Every figure is a ratio to a baseline served the same way (gunicorn, 1 worker
process, 8 threads, 127.0.0.1) and measured interleaved with it, round by
round; the median of the per-round ratios is reported. No absolute threshold
is asserted anywhere: the machines are shared and noisy.
"""
