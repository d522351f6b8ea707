"""Rendering of the method ablation: the Markdown/HTML tables (summary over seeds with TempAct's numbers beside
ours, then one row per condition and seed) and a PNG bar chart of the mean scores with their intervals.

`build_ablation_report` works on the rows `run_ablation` computes; `report_for_ablation` re-renders a committed
`ablation` artifact from its two tables (what `plotline eval report URI` shows).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from plotline.eval.report import _Doc, _png

ABLATION_STAGE = "ablation"
"""Stage name in the manifest of a committed ablation artifact."""
PLOT_NAME = "ablation.png"

SUMMARY_HEADER = (
    "condition",
    "TempAct",
    "TF score [95 % CI]",
    "Δ vs baseline [95 % CI]",
    "seeds Δ>0",
    "RL steps",
    "train videos",
    "train s",
    "eval s",
)
"""Columns of the summary table (the README's Ablation section shows the same layout)."""
SEED_HEADER = ("condition", "seed", "prompts", "TF score [95 % CI]", "Δ vs baseline [95 % CI]", "train s", "eval s")


@dataclass
class AblationReport:
    """A rendered ablation: Markdown, HTML, the two tables as rows, and the bar chart as PNG bytes."""

    markdown: str
    html: str
    summary: list[dict]
    seeds: list[dict]
    plots: dict[str, bytes] = field(default_factory=dict)


def _num(v: float | None, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:.{digits}f}"


def fmt_interval(mean: float | None, lo: float | None, hi: float | None, signed: bool = False) -> str:
    """`0.412 [0.380, 0.444]` (signed: `+0.070 [+0.031, +0.109]`); `–` for a missing mean, no bracket without an
    interval."""
    if mean is None:
        return "–"
    f = "{:+.3f}" if signed else "{:.3f}"
    text = f.format(mean)
    return text if lo is None or hi is None else f"{text} [{f.format(lo)}, {f.format(hi)}]"


def summary_cells(row: dict, baseline: str) -> list[str]:
    """The summary table's cells of one condition (see SUMMARY_HEADER)."""
    is_base = row["condition"] == baseline
    return [
        f"{row['label']} (`{row['condition']}`)",
        _num(row.get("reference")),
        fmt_interval(row["mean"], row["lo"], row["hi"]),
        "baseline" if is_base else fmt_interval(row["delta"], row["delta_lo"], row["delta_hi"], signed=True),
        "–" if is_base else f"{row['seeds_above']}/{row['seeds']}",
        str(row["rl_steps"]),
        str(row["train_videos"]),
        _num(row.get("train_s"), 1),
        _num(row.get("eval_s"), 1),
    ]


def seed_cells(row: dict, baseline: str) -> list[str]:
    """The per-seed table's cells of one (condition, seed) (see SEED_HEADER)."""
    is_base = row["condition"] == baseline
    return [
        row["condition"],
        str(row["seed"]),
        str(row["prompts"]),
        fmt_interval(row["mean"], row["lo"], row["hi"]),
        "baseline" if is_base else fmt_interval(row["delta"], row["delta_lo"], row["delta_hi"], signed=True),
        _num(row.get("train_s"), 1),
        _num(row.get("eval_s"), 1),
    ]


def bar_chart(summary: Sequence[dict], baseline: str, confidence: float) -> bytes:
    """PNG: one bar per condition (mean score) with its interval, TempAct's score as a marker, the baseline's
    mean as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [r["label"] for r in summary]
    means = [r["mean"] if r["mean"] is not None else 0.0 for r in summary]
    err = [
        [m - r["lo"] if r["lo"] is not None else 0.0 for m, r in zip(means, summary)],
        [r["hi"] - m if r["hi"] is not None else 0.0 for m, r in zip(means, summary)],
    ]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(summary)), 4.0))
    xs = list(range(len(summary)))
    colours = ["#888888" if r["variant"] == "base" else "#3b75af" for r in summary]
    ax.bar(xs, means, yerr=err, capsize=4, color=colours, label=f"plotline (mean, {confidence:.0%} CI)")
    refs = [(x, r["reference"]) for x, r in zip(xs, summary) if r.get("reference") is not None]
    if refs:
        ax.scatter([x for x, _ in refs], [v for _, v in refs], marker="D", color="#d62728", zorder=3, label="TempAct")
    base = next((r["mean"] for r in summary if r["condition"] == baseline), None)
    if base is not None:
        ax.axhline(base, color="black", linestyle="--", linewidth=0.8, label=f"{baseline}")
    ax.set_xticks(xs, labels, rotation=30, ha="right")
    ax.set_ylabel("temporal-following score")
    ax.set_title(f"Ablation ({summary[0]['seeds']} seed(s))" if summary else "Ablation")
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def build_ablation_report(
    summary: Sequence[dict],
    seeds: Sequence[dict],
    baseline: str,
    confidence: float,
    steps: int | None = None,
    plots: bool = True,
) -> AblationReport:
    """The Markdown + HTML report and the bar chart of an ablation's summary and per-seed rows."""
    over = {r["interval_over"] for r in summary}
    n_seeds = summary[0]["seeds"] if summary else 0
    judge = summary[0]["judge"] if summary else "?"
    doc = _Doc("Method ablation")
    doc.para(
        f"Temporal-following score (judge `{judge}`, metric `score`) on the held-out prompts, {n_seeds} seed(s)"
        + (f", {steps} RL step(s) per training variant" if steps is not None else "")
        + f". Δ is the paired difference to `{baseline}` (same seed, prompts and noise). "
        + f"Intervals: {confidence:.0%} Student-t "
        + ("over seeds (the seed is the independent training replicate)" if over == {"seeds"} else "over prompts")
        + ". TempAct: the paper's ablation (Self-Forcing, Qwen judge, simple + hard average)."
    )
    doc.table(SUMMARY_HEADER, [summary_cells(r, baseline) for r in summary])
    out_plots: dict[str, bytes] = {}
    if plots and summary:
        out_plots[PLOT_NAME] = bar_chart(summary, baseline, confidence)
        doc.image(PLOT_NAME, "mean temporal-following score per condition")
    doc.heading("Per seed (intervals over prompts)")
    doc.table(SEED_HEADER, [seed_cells(r, baseline) for r in seeds])
    doc.para(
        "Compute: `train s` sums the wall seconds of the condition's RL stages (plan, rollout, score, advantage, "
        "updates) over seeds, spent once per run even where two conditions share it (joint + reflection evaluates the "
        "joint run); the shared setup (instructions + bootstrap) took "
        + _num(summary[0].get("bootstrap_s") if summary else None, 1)
        + " s over all seeds; `eval s` is planning + generation in the evaluation."
    )
    markdown, page = doc.render()
    return AblationReport(markdown, page, list(summary), list(seeds), out_plots)


def report_for_ablation(art) -> AblationReport:
    """Re-render a committed `ablation` artifact from its summary and per-seed tables (the same Markdown as the
    artifact's report.md, bar chart included)."""
    if art.manifest.stage != ABLATION_STAGE:
        raise ValueError(f"{art.uri} is a {art.manifest.stage!r} artifact, not an {ABLATION_STAGE!r} one")
    kinds = {f.kind: f.name for f in art.manifest.files if f.kind}
    for kind in ("ablation_summary", "ablation_seeds"):
        if kind not in kinds:
            raise ValueError(f"{art.uri} holds no {kind} table")
    summary = art.read_table(kinds["ablation_summary"]).to_pylist()
    seeds = art.read_table(kinds["ablation_seeds"]).to_pylist()
    info = art.manifest.summary
    return build_ablation_report(
        summary, seeds, info.get("baseline", "bootstrap"), float(info.get("confidence", 0.95)), info.get("steps")
    )
