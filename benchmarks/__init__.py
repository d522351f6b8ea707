"""Performance harnesses: each bench_*.py has main() printing ratios measured side by side in one run."""
