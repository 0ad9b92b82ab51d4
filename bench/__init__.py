"""Benchmarks: llmcache side by side with LiteLLM's cache, on the same machine, in the same run.

`python -m bench` (make bench) prints one table and writes bench/results/latest.json;
`python -m bench.load` (make load) holds a steady request rate against the local gateway.
Numbers only: nothing here fails on a figure. Importing this package imports nothing heavy.
"""
