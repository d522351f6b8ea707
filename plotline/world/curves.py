"""Reward curves for the closing summary of `plotline train` (the shapes default, and any run): the per-step means
of the rewards and judge scores as a table and a PNG plot. Takes the per-step metrics the flows' audit computes
(`flows.audit_tables.step_metrics`: "stage.column[group]" → mean), so it reads no store itself."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

CURVES: dict[str, str] = {
    "advantage.reward[planner]": "R_plan (planner reward)",
    "advantage.reward[executor]": "R_exec (executor reward)",
    "score.score[temporal]": "temporal-following judge",
    "score.score[step]": "step-following judge",
    "score.score[plan]": "plan judge",
    "score.score[pickscore]": "aesthetic (PickScore / stand-in)",
    "plan.format_reward": "plan format reward",
}
"""Metric key → label of the curves shown (means per step, all in [0, 1])."""


def curve_rows(metrics: Mapping[int, Mapping[str, float]]) -> tuple[list[str], list[list[Any]]]:
    """(labels of the curves present, one row per step: [step, value per curve]) in step order."""
    keys = [k for k in CURVES if any(k in m for m in metrics.values())]
    rows: list[list[Any]] = [[float(step), *(metrics[step].get(k) for k in keys)] for step in sorted(metrics)]
    return [CURVES[k] for k in keys], rows


def curves_csv(metrics: Mapping[int, Mapping[str, float]]) -> str:
    """The curves as CSV text (step, one column per curve)."""
    labels, rows = curve_rows(metrics)
    lines = [",".join(["step", *labels])]
    for row in rows:
        lines.append(",".join([str(int(row[0]))] + ["" if v is None else f"{v:.6g}" for v in row[1:]]))
    return "\n".join(lines) + "\n"


def plot_curves(metrics: Mapping[int, Mapping[str, float]], title: str) -> bytes:
    """PNG bytes of the reward curves (one line per curve over the RL steps)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    labels, rows = curve_rows(metrics)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    steps = [int(r[0]) for r in rows]
    for i, label in enumerate(labels):
        points = [(s, r[i + 1]) for s, r in zip(steps, rows) if r[i + 1] is not None]
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    ax.set_xlabel("RL step")
    ax.set_ylabel("mean over the step's samples")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if labels:
        ax.legend(fontsize=8, loc="lower right")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # RL steps are integers: no 0.5 ticks
    if len(steps) == 1:
        ax.set_xticks(steps)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
