"""Benchmarks: timed runs against local servers, kept out of the test suite (STYLE.md 11).

`python -m benchmarks.fetch_bench --help` (or `make bench`) runs the fetch benchmark;
`benchmarks/RESULTS.md` records its results on the project's machine.
"""
