"""How much the shapes world's 8-step RL gain varies by seed and RL variant: the CI learning test's protocol
(benchmarks/shapes_learning.py) for seeds 0, 1, 2 (or PLOTLINE_BENCH_SEEDS="0,1,2,3,4") and the variants of
PLOTLINE_BENCH_VARIANTS (default "joint"; e.g. "joint,executor_only,planner_only"), each seed in its own process with
the pinned CPU kernels; the variants of a seed share its bootstrap (trained once, copied). Extra config values for
every run: PLOTLINE_BENCH_SET="key=value;key=value". Prints per seed and variant the held-out temporal-following
score before and after RL, the paired gain with the report's 95 % interval, and the training curves (temporal and
step-following); then per variant the mean gain over seeds.

The CI test pins one seed and asserts its margins; this sweep is where the spread across seeds is measured.
About 5 minutes per seed and variant on 2 cores (less for the variants after the first: no bootstrap).
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
variants, sets = sys.argv[4].split(","), [s for s in sys.argv[5].split(";") if s.strip()]
first = None
for variant in variants:
    r = train_and_evaluate(seed, steps, root, variant=variant, overrides=sets, setup_from=first)
    first = first or r.run
    if r.cli_exit_code:
        print(json.dumps({"seed": seed, "variant": variant, "error": r.cli_output[-2000:]}), flush=True); continue
    art = r.eval_artifact
    gain, paired = paired_gain(art)
    report = art.read_bytes("report.md").decode()
    m = re.search(r"\\| trained \\| eval \\| programmatic \\| \\d+ \\| [+-]\\d\\.\\d{3} \\| \\[([+-]\\d\\.\\d{3}), ([+-]\\d\\.\\d{3})\\]", report)
    print(json.dumps({"seed": seed, "variant": variant, "before": float(paired["bootstrap"].mean()),
                      "after": float(paired["trained"].mean()), "gain": gain,
                      "ci": [float(m[1]), float(m[2])] if m else None, "prompts": len(paired),
                      "training": r.training_temporal, "training_step": r.training_step}), flush=True)
"""


def _seeds() -> list[int]:
    return [int(s) for s in os.environ.get("PLOTLINE_BENCH_SEEDS", "0,1,2").split(",") if s.strip()]


def _variants() -> list[str]:
    from benchmarks.shapes_learning import VARIANTS

    names = [v.strip() for v in os.environ.get("PLOTLINE_BENCH_VARIANTS", "joint").split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"PLOTLINE_BENCH_VARIANTS: unknown variants {unknown}; known: {sorted(VARIANTS)}")
    return names


def main() -> list[dict]:
    """Run the protocol per seed (one child process each, kernels pinned) and print the table."""
    from benchmarks.shapes_learning import KERNEL_PINS

    env = {**os.environ, **KERNEL_PINS, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    variants, sets = _variants(), os.environ.get("PLOTLINE_BENCH_SET", "")
    rows: list[dict[str, Any]] = []
    for seed in _seeds():
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run(
                [sys.executable, "-c", _CHILD, str(seed), str(STEPS), tmp, ",".join(variants), sets],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
            )
        got = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
        done = {r["variant"] for r in got}
        got += [{"seed": seed, "variant": v, "error": proc.stderr[-2000:]} for v in variants if v not in done]
        for row in got:
            rows.append(row)
            if "error" in row:
                print(f"seed {seed} {row['variant']}: failed\n{row['error']}")
                continue
            ci = "[{:+.3f}, {:+.3f}]".format(*row["ci"]) if row["ci"] else "—"
            print(
                f"seed {seed} {row['variant']}: {row['before']:.3f} → {row['after']:.3f}, gain {row['gain']:+.4f} "
                f"{ci} ({row['prompts']} held-out prompts); training temporal "
                f"{[round(x, 3) for x in row['training']]}, step {[round(x, 3) for x in row['training_step']]}",
                flush=True,
            )
    for variant in variants:
        ok = [r for r in rows if "error" not in r and r["variant"] == variant]
        if ok:
            mean = sum(r["gain"] for r in ok) / len(ok)
            above = sum(1 for r in ok if r["ci"] and r["ci"][0] > 0)
            print(
                f"{variant}: mean gain over {len(ok)} seed(s): {mean:+.4f}; interval above 0 for {above} of {len(ok)}"
            )
    return rows


if __name__ == "__main__":
    main()
