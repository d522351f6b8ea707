"""Start-up cost: wall time of importing plotline.config (light) against a torch-bearing module, in one run."""

import statistics
import subprocess
import sys
import time


def import_seconds(module: str, repeats: int = 3) -> float:
    """Median wall seconds of a fresh interpreter running ``import <module>``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> dict[str, float]:
    """Print import times of plotline.config and plotline.store.run (which loads torch) and their ratio."""
    out = {
        "config_s": import_seconds("plotline.config"),
        "store_run_s": import_seconds("plotline.store.run"),
        "bare_python_s": import_seconds("sys"),
    }
    out["heavy_over_config"] = out["store_run_s"] / out["config_s"]
    print(
        f"import plotline.config {out['config_s']:.2f}s, plotline.store.run (torch) {out['store_run_s']:.2f}s, "
        f"bare python {out['bare_python_s']:.2f}s; ratio heavy/config {out['heavy_over_config']:.1f}x"
    )
    return out


if __name__ == "__main__":
    main()
