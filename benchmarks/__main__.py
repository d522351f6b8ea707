"""Run every benchmark (or those named): `python -m benchmarks [name ...]`."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import benchmarks


def main(argv: list[str]) -> int:
    """Discover benchmarks/bench_*.py and call each main(); print the wall time of each harness, then every
    benchmark's headline ratios (its `ratios(result)`, where it has one) side by side, all from this run."""
    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))
    wanted = [a if a.startswith("bench_") else f"bench_{a}" for a in argv]
    unknown = [w for w in wanted if w not in names]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {', '.join(names)}", file=sys.stderr)
        return 2
    summary: dict[str, float] = {}
    for name in wanted or names:
        print(f"== {name}")
        start = time.perf_counter()
        module = importlib.import_module(f"benchmarks.{name}")
        result = module.main()
        if hasattr(module, "ratios"):
            summary.update(module.ratios(result))
        print(f"== {name} finished in {time.perf_counter() - start:.1f}s\n")
    if summary:
        print(summary_table(summary))
    return 0


def summary_table(summary: dict[str, float]) -> str:
    """The ratios of one `python -m benchmarks` run, one per line, names aligned."""
    width = max(len(k) for k in summary)
    lines = ["== ratios (this run)"] + [f"{k:<{width}}  {v:>8.3f}" for k, v in summary.items()]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
