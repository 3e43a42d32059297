"""Speed benchmarks: each bench_*.py module has a main(argv) that prints ratios against a baseline measured in
the same run (never absolute timings as a pass/fail); `python -m benchmarks` runs them all."""
