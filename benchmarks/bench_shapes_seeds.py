"""How much the shapes world's 8-step RL gain varies by seed: the CI learning test's protocol
(benchmarks/shapes_learning.py) for seeds 0, 1, 2 (or PLOTLINE_BENCH_SEEDS="0,1,2,3,4"), each in its own process
with the pinned CPU kernels. Prints per seed the held-out temporal-following score before and after RL, the
paired gain with the report's 95 % interval, and the training curve; then the mean gain over seeds.

The CI test pins one seed and asserts its margin; this sweep is where the spread across seeds is measured.
About 5 minutes per seed on 2 cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
STEPS = 8

_CHILD = """
import json, re, sys
from benchmarks.shapes_learning import paired_gain, train_and_evaluate
seed, steps, root = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
r = train_and_evaluate(seed, steps, root)
if r.cli_exit_code:
    print(json.dumps({"seed": seed, "error": r.cli_output[-2000:]})); sys.exit(0)
art = r.eval_artifact
gain, paired = paired_gain(art)
report = art.read_bytes("report.md").decode()
m = re.search(r"\\| trained \\| eval \\| programmatic \\| \\d+ \\| [+-]\\d\\.\\d{3} \\| \\[([+-]\\d\\.\\d{3}), ([+-]\\d\\.\\d{3})\\]", report)
print(json.dumps({"seed": seed, "before": float(paired["bootstrap"].mean()), "after": float(paired["trained"].mean()),
                  "gain": gain, "ci": [float(m[1]), float(m[2])] if m else None, "prompts": len(paired),
                  "training": r.training_temporal}))
"""


def _seeds() -> list[int]:
    return [int(s) for s in os.environ.get("PLOTLINE_BENCH_SEEDS", "0,1,2").split(",") if s.strip()]


def main() -> list[dict]:
    """Run the protocol per seed (one child process each, kernels pinned) and print the table."""
    from benchmarks.shapes_learning import KERNEL_PINS

    env = {**os.environ, **KERNEL_PINS, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    rows: list[dict[str, Any]] = []
    for seed in _seeds():
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run(
                [sys.executable, "-c", _CHILD, str(seed), str(STEPS), tmp],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
            )
        line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("{")), None)
        row: dict[str, Any] = json.loads(line) if line else {"seed": seed, "error": proc.stderr[-2000:]}
        rows.append(row)
        if "error" in row:
            print(f"seed {seed}: failed\n{row['error']}")
            continue
        ci = "[{:+.3f}, {:+.3f}]".format(*row["ci"]) if row["ci"] else "—"
        print(
            f"seed {seed}: {row['before']:.3f} → {row['after']:.3f}, gain {row['gain']:+.4f} {ci} "
            f"({row['prompts']} held-out prompts); training curve {[round(x, 3) for x in row['training']]}",
            flush=True,
        )
    ok = [r for r in rows if "error" not in r]
    if ok:
        mean = sum(r["gain"] for r in ok) / len(ok)
        above = sum(1 for r in ok if r["ci"] and r["ci"][0] > 0)
        print(f"mean gain over {len(ok)} seed(s): {mean:+.4f}; interval above 0 for {above} of {len(ok)}")
    return rows


if __name__ == "__main__":
    main()
