"""Benchmark reports: the Temporal-Following score and every sub-score per judge and subset, the aesthetic
score, throughput, judge failures, a comparison across conditions with relative changes (the paper's Table 1
layout), paired wins/ties/losses against the baseline, a per-category breakdown, PNG plots, and Markdown + HTML.

`build_report(...)` works on the tables of one or more evaluate artifacts; `report_for_artifact(art)` reads a
committed one. Both return an `EvalReport` whose `markdown` and `rows` are what a Prefect artifact publishes.
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from plotline.eval.judging import JUDGE_METRICS

AESTHETIC_JUDGES = ("pickscore", "image_stats")
ALL = "all"
"""Subset label of the pooled results when a run has several subsets."""
METRIC_LABELS = {
    "score": "TF score",
    "frame_mean": "frames",
    "temporal_order_score": "order",
    "physical_plausibility_score": "physics",
    "visual_consistency_score": "consistency",
    "prompt_alignment_score": "alignment",
    "final_score": "final",
}


@dataclass
class EvalReport:
    """A rendered report: Markdown, HTML, table rows (for publication) and PNG plots."""

    markdown: str
    html: str
    rows: list[dict]
    """The comparison table as flat rows: condition, mode, checkpoint, subset, judge, metric, mean, n,
    unscored, baseline, delta, relative_change (None for the baseline itself)."""
    tables: dict[str, list[dict]] = field(default_factory=dict)
    """Every table of the report by name (comparison, subscores, categories, throughput, failures, paired)."""
    plots: dict[str, bytes] = field(default_factory=dict)
    """PNG bytes by file name."""


# --- numbers ---------------------------------------------------------------------------------------------------
def _with_all(results: pd.DataFrame) -> pd.DataFrame:
    if results["subset"].nunique() <= 1:
        return results
    pooled = results.copy()
    pooled["subset"] = ALL
    return pd.concat([results, pooled], ignore_index=True)


def metric_means(results: pd.DataFrame) -> pd.DataFrame:
    """Mean value, count and unscored count per (condition, subset, judge, metric); `all` pools the subsets.
    The aesthetic metric's mean is on its native scale (e.g. PickScore logits) in `native_mean`."""
    df = _with_all(results)
    scored = df[df["value"].notna()]
    g = scored.groupby(["condition", "subset", "judge", "metric"])
    out = pd.DataFrame({"mean": g["value"].mean(), "native_mean": g["raw_value"].mean(), "n": g["value"].size()})
    unscored = df[df["value"].isna()].groupby(["condition", "subset", "judge", "metric"]).size()
    out = out.join(unscored.rename("unscored"), how="outer").fillna({"unscored": 0, "n": 0})
    out["unscored"] = out["unscored"].astype(int)
    out["n"] = out["n"].astype(int)
    return out.reset_index()


def relative_change(value: float | None, base: float | None) -> float | None:
    """(value − base) / |base|, None when undefined."""
    if value is None or base is None or not np.isfinite(value) or not np.isfinite(base) or base == 0:
        return None
    return (value - base) / abs(base)


def comparison_rows(
    results: pd.DataFrame, baseline: str, conditions: Sequence[str], meta: dict[str, tuple[str, str]]
) -> list[dict]:
    """Flat comparison rows: every condition's Temporal-Following score per judge and subset and its aesthetic
    score, with the baseline's value, the difference and the relative change."""
    means = metric_means(results)
    main = means[(means["metric"] == "score") | means["judge"].isin(AESTHETIC_JUDGES)]
    rows = []
    for _, r in main.iterrows():
        aesthetic = r["judge"] in AESTHETIC_JUDGES
        value = float(r["native_mean"] if aesthetic else r["mean"]) if r["n"] else None
        base = main[(main["condition"] == baseline) & (main["subset"] == r["subset"]) & (main["judge"] == r["judge"])]
        base_v = None
        if len(base) and base.iloc[0]["n"]:
            base_v = float(base.iloc[0]["native_mean"] if aesthetic else base.iloc[0]["mean"])
        mode, ckpt = meta.get(r["condition"], ("", ""))
        rows.append(
            {
                "condition": r["condition"],
                "mode": mode,
                "checkpoint": ckpt,
                "subset": r["subset"],
                "judge": r["judge"],
                "metric": r["metric"],
                "mean": value,
                "n": int(r["n"]),
                "unscored": int(r["unscored"]),
                "baseline": base_v,
                "delta": None if value is None or base_v is None else value - base_v,
                "relative_change": None if r["condition"] == baseline else relative_change(value, base_v),
            }
        )
    order = {c: i for i, c in enumerate(conditions)}
    rows.sort(
        key=lambda x: (
            x["subset"] == ALL,
            x["subset"],
            x["judge"] in AESTHETIC_JUDGES,
            x["judge"],
            order.get(x["condition"], 99),
        )
    )
    return rows


def paired_rows(results: pd.DataFrame, baseline: str, conditions: Sequence[str], tie_band: float) -> list[dict]:
    """Per condition, subset and judge: paired comparison of the aggregated score with the baseline on the same
    prompts: mean difference, a 95% bootstrap interval, and wins/ties/losses (ties within ± tie_band)."""
    df = results[(results["metric"] == "score") & results["value"].notna()]
    rows = []
    rng = np.random.default_rng(0)
    for (subset, judge), part in _with_all(df).groupby(["subset", "judge"]):
        base = part[part["condition"] == baseline].set_index("prompt_id_key")["value"]
        for cond in conditions:
            if cond == baseline:
                continue
            other = part[part["condition"] == cond].set_index("prompt_id_key")["value"]
            common = base.index.intersection(other.index)
            if not len(common):
                continue
            d = (other.loc[common] - base.loc[common]).to_numpy()
            boots = rng.choice(d, size=(1000, len(d)), replace=True).mean(axis=1) if len(d) > 1 else d
            rows.append(
                {
                    "condition": cond,
                    "subset": subset,
                    "judge": judge,
                    "pairs": int(len(d)),
                    "mean_delta": float(d.mean()),
                    "ci_low": float(np.percentile(boots, 2.5)),
                    "ci_high": float(np.percentile(boots, 97.5)),
                    "wins": int((d > tie_band).sum()),
                    "ties": int((np.abs(d) <= tie_band).sum()),
                    "losses": int((d < -tie_band).sum()),
                }
            )
    return rows


def reflection_rows(
    comparison: list[dict], throughput: list[dict], reflections: pd.DataFrame, baseline: str
) -> list[dict]:
    """Score against compute per condition (from the reflection trail): the Temporal-Following score of the
    first temporal judge on the pooled subset and its change vs the baseline, critic calls, regenerations,
    replans, chunk generations and their ratio to one open-loop pass, generation seconds and their ratio to
    the baseline's, and how many videos hit a budget limit."""
    from plotline.reflect.trail import condition_costs

    temporal = [r for r in comparison if r["judge"] not in AESTHETIC_JUDGES]
    if not temporal:
        return []
    judge = temporal[0]["judge"]
    pooled = ALL if any(r["subset"] == ALL for r in temporal) else temporal[0]["subset"]
    score = {r["condition"]: r for r in temporal if r["judge"] == judge and r["subset"] == pooled}
    seconds: dict[str, float] = {}
    for t in throughput:
        seconds[t["condition"]] = seconds.get(t["condition"], 0.0) + float(t["generation_s"])
    base_s = seconds.get(baseline)
    rows = []
    records = reflections.astype(object).where(reflections.notna(), None).to_dict("records")
    for c in condition_costs(records):
        sc = score.get(c["condition"], {})
        secs = seconds.get(c["condition"])
        rows.append(
            {
                **c,
                "judge": judge,
                "subset": pooled,
                "tf_score": sc.get("mean"),
                "tf_delta": sc.get("delta"),
                "generation_s": secs,
                "time_ratio": secs / base_s if secs is not None and base_s else None,
            }
        )
    return rows


def subscore_rows(results: pd.DataFrame) -> list[dict]:
    """Every temporal-judge metric's mean per (condition, subset, judge): one row per combination."""
    means = metric_means(results)
    means = means[~means["judge"].isin(AESTHETIC_JUDGES)]
    rows = []
    for (cond, subset, judge), part in means.groupby(["condition", "subset", "judge"], sort=False):
        row = {"condition": cond, "subset": subset, "judge": judge}
        for metric in JUDGE_METRICS:
            hit = part[part["metric"] == metric]
            row[metric] = float(hit.iloc[0]["mean"]) if len(hit) and hit.iloc[0]["n"] else None
        rows.append(row)
    return rows


def category_rows(results: pd.DataFrame, baseline: str) -> list[dict]:
    """Temporal-Following score per (judge, category, condition) pooled over subsets, with the change vs baseline."""
    df = results[(results["metric"] == "score") & results["value"].notna()]
    g = df.groupby(["judge", "category", "condition"])["value"].agg(["mean", "size"]).reset_index()
    rows = []
    for _, r in g.iterrows():
        base = g[(g["judge"] == r["judge"]) & (g["category"] == r["category"]) & (g["condition"] == baseline)]
        base_v = float(base.iloc[0]["mean"]) if len(base) else None
        rows.append(
            {
                "judge": r["judge"],
                "category": r["category"],
                "condition": r["condition"],
                "mean": float(r["mean"]),
                "n": int(r["size"]),
                "relative_change": None if r["condition"] == baseline else relative_change(float(r["mean"]), base_v),
            }
        )
    return rows


def failure_rows(results: pd.DataFrame) -> list[dict]:
    """Unscored videos per judge and condition with the most common reasons."""
    main = results[(results["metric"] == "score") | (results["judge"] == results["metric"])]
    rows = []
    for (judge, cond), part in main.groupby(["judge", "condition"]):
        bad = part[part["status"] == "unscored"]
        reasons = bad["reason"].fillna("?").str.slice(0, 80).value_counts().head(3)
        rows.append(
            {
                "judge": judge,
                "condition": cond,
                "videos": int(len(part)),
                "unscored": int(len(bad)),
                "repaired": int((part["status"] == "repaired").sum()),
                "top_reasons": "; ".join(f"{k} ×{v}" for k, v in reasons.items()),
            }
        )
    return rows


# --- rendering -----------------------------------------------------------------------------------------------------
def _fmt(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _pct(v) -> str:
    return "" if v is None else f" ({v * 100:+.1f}%)"


def _md_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in body]
    return "\n".join(lines)


def _html_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    rows = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


class _Doc:
    """Builds the Markdown and HTML versions side by side."""

    def __init__(self, title: str):
        self.md = [f"# {title}", ""]
        self.html = [f"<h1>{html.escape(title)}</h1>"]

    def heading(self, text: str) -> None:
        self.md += [f"## {text}", ""]
        self.html.append(f"<h2>{html.escape(text)}</h2>")

    def para(self, text: str) -> None:
        self.md += [text, ""]
        self.html.append(f"<p>{html.escape(text)}</p>")

    def table(self, header, body, links: list[list[str | None]] | None = None) -> None:
        self.md += [
            _md_table(
                header,
                [
                    [c if not (links and links[i][j]) else f"[{c}]({links[i][j]})" for j, c in enumerate(row)]
                    for i, row in enumerate(body)
                ],
            ),
            "",
        ]
        cells = [
            [
                (
                    f'<a href="{html.escape(links[i][j])}">{html.escape(str(c))}</a>'
                    if links and links[i][j]
                    else html.escape(str(c))
                )
                for j, c in enumerate(row)
            ]
            for i, row in enumerate(body)
        ]
        self.html.append(_html_table(header, cells))

    def image(self, name: str, alt: str) -> None:
        self.md += [f"![{alt}]({name})", ""]
        self.html.append(f'<p><img src="{html.escape(name)}" alt="{html.escape(alt)}"></p>')

    def render(self) -> tuple[str, str]:
        style = (
            "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;"
            "margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}img{max-width:100%}"
        )
        page = (
            f"<!doctype html><html><head><meta charset='utf-8'><title>plotline evaluation</title>"
            f"<style>{style}</style></head><body>{''.join(self.html)}</body></html>"
        )
        return "\n".join(self.md).rstrip() + "\n", page


# --- plots --------------------------------------------------------------------------------------------------------
def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def make_plots(
    comparison: list[dict],
    subscores: list[dict],
    categories: list[dict],
    throughput: list[dict],
    conditions: Sequence[str],
) -> dict[str, bytes]:
    """PNG plots: TF score per condition and subset (one panel per judge), sub-scores, categories, throughput."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots: dict[str, bytes] = {}
    comp = pd.DataFrame(comparison)
    judges = [j for j in comp["judge"].unique() if j not in AESTHETIC_JUDGES] if len(comp) else []
    if judges:
        fig, axes = plt.subplots(1, len(judges), figsize=(5 * len(judges), 3.5), squeeze=False)
        for ax, judge in zip(axes[0], judges):
            part = comp[comp["judge"] == judge]
            subsets = list(dict.fromkeys(part["subset"]))
            width = 0.8 / max(1, len(conditions))
            for i, cond in enumerate(conditions):
                vals = [
                    part[(part["subset"] == s) & (part["condition"] == cond)]["mean"].astype(float).mean()
                    for s in subsets
                ]
                ax.bar(np.arange(len(subsets)) + i * width, vals, width, label=cond)
            ax.set_xticks(np.arange(len(subsets)) + width * (len(conditions) - 1) / 2, subsets)
            ax.set_ylim(0, 1)
            ax.set_title(f"Temporal-Following score ({judge})")
        axes[0][0].legend(fontsize=8)
        plots["plots/tf_score.png"] = _png(fig)
    sub = pd.DataFrame(subscores)
    if len(sub):
        first = sub[(sub["judge"] == sub["judge"].iloc[0])]
        pooled = first[first["subset"] == (ALL if (first["subset"] == ALL).any() else first["subset"].iloc[0])]
        fig, ax = plt.subplots(figsize=(8, 3.5))
        metrics = [m for m in JUDGE_METRICS if m != "score"]
        width = 0.8 / max(1, len(pooled))
        for i, (_, r) in enumerate(pooled.iterrows()):
            ax.bar(
                np.arange(len(metrics)) + i * width,
                [r[m] if r[m] is not None else np.nan for m in metrics],
                width,
                label=r["condition"],
            )
        ax.set_xticks(np.arange(len(metrics)) + width * (len(pooled) - 1) / 2, [METRIC_LABELS[m] for m in metrics])
        ax.set_ylim(0, 1)
        ax.set_title(f"Sub-scores ({first['judge'].iloc[0]}, subset {pooled['subset'].iloc[0]})")
        ax.legend(fontsize=8)
        plots["plots/subscores.png"] = _png(fig)
    cat = pd.DataFrame(categories)
    if len(cat):
        first = cat[cat["judge"] == cat["judge"].iloc[0]]
        cats = sorted(first["category"].unique())
        fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(cats)), 3.5))
        width = 0.8 / max(1, len(conditions))
        for i, cond in enumerate(conditions):
            vals = [first[(first["category"] == c) & (first["condition"] == cond)]["mean"].mean() for c in cats]
            ax.bar(np.arange(len(cats)) + i * width, vals, width, label=cond)
        ax.set_xticks(np.arange(len(cats)) + width * (len(conditions) - 1) / 2, cats)
        ax.set_ylim(0, 1)
        ax.set_title(f"TF score per category ({first['judge'].iloc[0]})")
        ax.legend(fontsize=8)
        plots["plots/categories.png"] = _png(fig)
    tp = pd.DataFrame(throughput)
    if len(tp):
        agg = tp.groupby("condition", sort=False)[["videos", "latent_frames", "generation_s"]].sum()
        agg = agg.reindex([c for c in conditions if c in agg.index])
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.bar(agg.index, agg["latent_frames"] / agg["generation_s"].clip(lower=1e-9))
        ax.set_ylabel("latent frames / s")
        ax.set_title("Generation throughput")
        plots["plots/throughput.png"] = _png(fig)
    return plots


# --- the report ----------------------------------------------------------------------------------------------------
def build_report(
    results: pd.DataFrame,
    videos: pd.DataFrame | None = None,
    throughput: pd.DataFrame | None = None,
    baseline: str | None = None,
    title: str = "Temporal Order benchmark",
    tie_band: float = 0.03,
    plots: bool = True,
    categories: bool = True,
    sample_videos: int = 4,
    video_link: Callable[[str], str | None] | None = None,
    judge_roles: dict[str, str] | None = None,
    reflections: pd.DataFrame | None = None,
) -> EvalReport:
    """Render the report of eval_results rows (plus eval_videos, eval_throughput and reflections rows when given).
    `baseline` defaults to the first condition; `video_link(video_path)` maps a stored path to a link."""
    if results.empty:
        raise ValueError("no evaluation results to report")
    results = results.copy()
    results["prompt_id_key"] = results["subset"] + "/" + results["prompt_id"]
    conditions = list(dict.fromkeys(results["condition"]))
    baseline = baseline or conditions[0]
    if baseline not in conditions:
        raise ValueError(f"baseline {baseline!r} is not among the conditions {conditions}")
    meta = {c: (str(g["mode"].iloc[0]), str(g["checkpoint"].iloc[0])) for c, g in results.groupby("condition")}
    comparison = comparison_rows(results, baseline, conditions, meta)
    paired = paired_rows(results, baseline, conditions, tie_band)
    subs = subscore_rows(results)
    cats = category_rows(results, baseline) if categories else []
    fails = failure_rows(results)
    tp_rows = throughput.to_dict("records") if throughput is not None and len(throughput) else []
    roles = judge_roles or {}

    doc = _Doc(title)
    judges = list(dict.fromkeys(r["judge"] for r in comparison))
    temporal = [j for j in judges if j not in AESTHETIC_JUDGES]
    aesthetic = [j for j in judges if j in AESTHETIC_JUDGES]
    subsets = list(dict.fromkeys(r["subset"] for r in comparison))
    doc.para(
        f"Conditions: {', '.join(f'{c} ({meta[c][0]}, checkpoint {meta[c][1]})' for c in conditions)}. "
        f"Baseline: {baseline}. Temporal-Following (TF) score = mean aggregated video score of a judge "
        f"(R_video in [0, 1]); relative changes are against the baseline."
    )

    doc.heading("Comparison")
    header = ["condition", "mode", "checkpoint"] + [
        f"{s} · {j}{' (' + roles[j].replace('_', '-') + ')' if j in roles else ''}"
        for s in subsets
        for j in temporal + aesthetic
    ]
    body = []
    for cond in conditions:
        row = [cond, meta[cond][0], meta[cond][1]]
        for s in subsets:
            for j in temporal + aesthetic:
                hit = [r for r in comparison if r["condition"] == cond and r["subset"] == s and r["judge"] == j]
                row.append(_fmt(hit[0]["mean"]) + _pct(hit[0]["relative_change"]) if hit else "–")
        body.append(row)
    doc.table(header, body)
    best = [
        r
        for r in comparison
        if r["judge"] in temporal and r["subset"] == subsets[-1] and r["relative_change"] is not None
    ]
    if best:
        top = max(best, key=lambda r: r["relative_change"])
        doc.para(
            f"Largest TF gain on subset {top['subset']} ({top['judge']}): {top['condition']} "
            f"{_fmt(top['mean'])} vs {baseline} {_fmt(top['baseline'])} ({top['relative_change'] * 100:+.1f}%)."
        )
    if plots and temporal:
        doc.image("plots/tf_score.png", "TF score per condition")

    if paired:
        doc.heading(f"Paired comparison with {baseline}")
        doc.para(
            f"Same prompts, same noise: per-prompt score differences (95% bootstrap interval); a difference "
            f"within ±{tie_band:g} is a tie."
        )
        doc.table(
            ["condition", "subset", "judge", "pairs", "mean Δ", "95% CI", "wins", "ties", "losses"],
            [
                [
                    r["condition"],
                    r["subset"],
                    r["judge"],
                    r["pairs"],
                    f"{r['mean_delta']:+.3f}",
                    f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]",
                    r["wins"],
                    r["ties"],
                    r["losses"],
                ]
                for r in paired
            ],
        )

    reflect_rows = (
        reflection_rows(comparison, tp_rows, reflections, baseline)
        if reflections is not None and len(reflections)
        else []
    )
    if reflect_rows:
        doc.heading("Reflection: score and compute")
        doc.para(
            f"Closed-loop conditions generate span by span with a critic (plan – act – reflect); TF score of "
            f"{reflect_rows[0]['judge']} on subset {reflect_rows[0]['subset']}, Δ against {baseline}. Chunk "
            "generations count every denoised chunk (rejected candidates included); one open-loop pass of "
            "the same videos takes the open-loop chunks. Time ratio: generation seconds (critic calls "
            f"included) over {baseline}'s."
        )
        doc.table(
            [
                "condition",
                "videos",
                "TF score",
                "Δ TF",
                "critic calls",
                "regenerations",
                "replans",
                "chunk generations",
                "open-loop chunks",
                "chunk ratio",
                "generation s",
                "time ratio",
                "budget-hit videos",
            ],
            [
                [
                    r["condition"],
                    r["videos"],
                    _fmt(r["tf_score"]),
                    "–" if r["tf_delta"] is None else f"{r['tf_delta']:+.4f}",
                    r["critic_calls"],
                    r["regenerations"],
                    r["replans"],
                    r["chunk_generations"],
                    r["open_loop_chunks"],
                    _fmt(r["chunk_ratio"], 2),
                    _fmt(r["generation_s"], 2),
                    _fmt(r["time_ratio"], 2),
                    r["budget_hit_videos"],
                ]
                for r in reflect_rows
            ],
        )

    doc.heading("Sub-scores")
    doc.table(
        ["condition", "subset", "judge"] + [METRIC_LABELS[m] for m in JUDGE_METRICS],
        [[r["condition"], r["subset"], r["judge"]] + [_fmt(r[m]) for m in JUDGE_METRICS] for r in subs],
    )
    if plots and subs:
        doc.image("plots/subscores.png", "sub-scores")

    if cats:
        doc.heading("Per category")
        cat_names = sorted({r["category"] for r in cats})
        body = []
        for j in temporal:
            for c in cat_names:
                row = [j, c]
                for cond in conditions:
                    hit = [r for r in cats if r["judge"] == j and r["category"] == c and r["condition"] == cond]
                    row.append(
                        _fmt(hit[0]["mean"]) + _pct(hit[0]["relative_change"]) + f" n={hit[0]['n']}" if hit else "–"
                    )
                body.append(row)
        doc.table(["judge", "category"] + conditions, body)
        if plots:
            doc.image("plots/categories.png", "TF score per category")

    if tp_rows:
        doc.heading("Throughput")
        doc.table(
            [
                "condition",
                "subset",
                "videos",
                "latent frames",
                "generation s",
                "videos/s",
                "latent frames/s",
                "planning s",
                "device",
            ],
            [
                [
                    r["condition"],
                    r["subset"],
                    r["videos"],
                    r["latent_frames"],
                    _fmt(float(r["generation_s"]), 2),
                    _fmt(float(r["videos_per_s"]), 2),
                    _fmt(float(r["latent_frames_per_s"]), 1),
                    _fmt(float(r["planning_s"]), 2),
                    r["device"],
                ]
                for r in tp_rows
            ],
        )
        if plots:
            doc.image("plots/throughput.png", "throughput")

    doc.heading("Judge failures")
    doc.table(
        ["judge", "condition", "videos", "unscored", "repaired", "most common reasons"],
        [
            [r["judge"], r["condition"], r["videos"], r["unscored"], r["repaired"], r["top_reasons"] or "–"]
            for r in fails
        ],
    )

    if videos is not None and len(videos) and "video_path" in videos and videos["video_path"].notna().any():
        doc.heading("Sample videos")
        picks = videos.drop_duplicates(["subset", "prompt_id"]).groupby("subset", sort=False).head(sample_videos)
        body, links = [], []
        for _, p in picks.iterrows():
            row, link = [p["subset"], p["prompt"][:100]], [None, None]
            for cond in conditions:
                hit = videos[
                    (videos["condition"] == cond)
                    & (videos["subset"] == p["subset"])
                    & (videos["prompt_id"] == p["prompt_id"])
                ]
                path = hit.iloc[0]["video_path"] if len(hit) else None
                row.append(cond if path else "–")
                link.append((video_link(path) if video_link else path) if path else None)
            body.append(row)
            links.append(link)
        doc.table(["subset", "prompt"] + conditions, body, links)

    plot_bytes = make_plots(comparison, subs, cats, tp_rows, conditions) if plots else {}
    markdown, page = doc.render()
    tables = {
        "comparison": comparison,
        "paired": paired,
        "subscores": subs,
        "categories": cats,
        "throughput": tp_rows,
        "failures": fails,
        "reflection": reflect_rows,
    }
    return EvalReport(markdown, page, comparison, tables, plot_bytes)


def read_reflections(art) -> pd.DataFrame | None:
    """The reflection trail of a committed evaluate artifact (None when no condition reflected)."""
    names = [f.name for f in art.manifest.files if f.kind == "reflections"]
    return art.read_table(names[0]).to_pandas() if names else None


def read_tables(art) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    """(results, videos, throughput) frames of a committed evaluate artifact."""
    kinds = {f.kind: f.name for f in art.manifest.files if f.kind}
    if "eval_results" not in kinds:
        raise ValueError(f"{art.uri} holds no eval_results table")
    results = art.read_table(kinds["eval_results"]).to_pandas()
    videos = art.read_table(kinds["eval_videos"]).to_pandas() if "eval_videos" in kinds else None
    throughput = art.read_table(kinds["eval_throughput"]).to_pandas() if "eval_throughput" in kinds else None
    return results, videos, throughput


def report_for_artifact(
    art, baseline: str | None = None, tie_band: float = 0.03, plots: bool = False, absolute_links: bool = True
) -> EvalReport:
    """The report of a committed evaluate artifact: Markdown + table rows for publication (e.g. as Prefect
    artifacts), with video links pointing into the artifact."""
    results, videos, throughput = read_tables(art)
    summary = art.manifest.summary
    link = (lambda p: f"{art.uri}/{art.manifest.file(p).path}") if absolute_links else None
    return build_report(
        results,
        videos,
        throughput,
        baseline or summary.get("baseline"),
        tie_band=tie_band,
        plots=plots,
        video_link=link,
        judge_roles=summary.get("judge_roles"),
        reflections=read_reflections(art),
    )


def combine_artifacts(arts: Sequence) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    """Concatenate the tables of several evaluate artifacts (e.g. two runs); condition names are prefixed with
    the run id when they collide."""
    parts = [read_tables(a) for a in arts]
    names = [set(p[0]["condition"]) for p in parts]
    clash = len(set().union(*names)) < sum(len(n) for n in names)
    frames: list[list[pd.DataFrame]] = [[], [], []]
    for art, (res, vid, tp) in zip(arts, parts):
        for i, df in enumerate((res, vid, tp)):
            if df is None:
                continue
            df = df.copy()
            if clash:
                df["condition"] = art.manifest.run_id + ":" + df["condition"]
                if "sample_id" in df:
                    df["sample_id"] = art.manifest.run_id + ":" + df["sample_id"]
            if i == 1 and "video_path" in df:
                df["video_path"] = [
                    None if p is None else f"{art.uri}/{art.manifest.file(p).path}" for p in df["video_path"]
                ]
            frames[i].append(df)
    out = [pd.concat(f, ignore_index=True) if f else None for f in frames]
    return out[0], out[1], out[2]
