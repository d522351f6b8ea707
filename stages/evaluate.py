"""evaluate stage: the Temporal Order benchmark.

One video per benchmark prompt for every configured condition (mode × checkpoint), judged by every configured
temporal-following judge, plus the aesthetic score, with generation throughput. Writes `results.parquet`
(eval_results), `videos.parquet` (eval_videos), `throughput.parquet` (eval_throughput), `judge_replies.parquet`
(scores: every raw judge reply), the mp4s under `videos/`, and the report: `report.md`, `report.html`,
`report.json` (its tables) and `plots/*.png`. When a condition reflects (`eval.conditions[].reflect`), also
`reflections.parquet` (the trail of every condition: each critic call, decision, revision and choice, and every
video's cost) and the report's "Reflection: score and compute" table.

Inputs: the run's instructions (step 0, optional: the default benchmark is their eval split), the update
outputs at this step (optional: what the `current` checkpoint means), and the run's bootstrap checkpoint
(optional: when committed, the planner base model and executor weights every condition starts from). Other
checkpoints are named in the config (`latest`, `step=N`, `<run URI>@…`, version folders); the stage pins them
into its inputs when it resolves them (stages/pins.py), so the manifest's inputs and input digest name the exact
artifacts read.
"""

from __future__ import annotations

import json

import pandas as pd

from plotline.eval.benchmark import file_digest
from plotline.eval.report import build_report
from plotline.eval.runner import run_benchmark
from stages.base import InputSpec, StageContext, StageSpec, register
from stages.pins import condition_inputs
from stages.provenance import BOOTSTRAP_INPUT, base_of, with_bootstrap

NAME = "evaluate"


def run(ctx: StageContext) -> None:
    """Generate, judge and time the benchmark; write its tables, videos and report."""
    cfg = ctx.config.eval
    out = run_benchmark(
        with_bootstrap(ctx),
        ctx.inputs,
        instructions=ctx.inputs.get("instructions"),
        write_video=ctx.output.write_bytes,
        progress=lambda it, total, desc: ctx.progress(it, total=total, description=desc),
        lora_seed=ctx.seed("lora-init"),
    )
    ctx.output.write_table("results.parquet", "eval_results", out.results)
    ctx.output.write_table("videos.parquet", "eval_videos", out.videos)
    ctx.output.write_table("throughput.parquet", "eval_throughput", out.throughput)
    if out.replies:
        ctx.output.write_table("judge_replies.parquet", "scores", out.replies)
    if out.reflections:
        ctx.output.write_table("reflections.parquet", "reflections", out.reflections)
    roles = {j.name: j.role for j in cfg.judges}
    report = build_report(
        pd.DataFrame(out.results),
        pd.DataFrame(out.videos),
        pd.DataFrame(out.throughput),
        cfg.baseline_name,
        tie_band=cfg.human.tie_band,
        plots=cfg.plots,
        categories=cfg.category_breakdown,
        judge_roles=roles,
        reflections=pd.DataFrame(out.reflections) if out.reflections else None,
    )
    ctx.output.write_bytes("report.md", report.markdown.encode())
    ctx.output.write_bytes("report.html", report.html.encode())
    ctx.output.write_bytes("report.json", json.dumps(report.tables, indent=1, default=str).encode())
    for name, png in report.plots.items():
        ctx.output.write_bytes(name, png)
    headline = {f"{r['condition']}/{r['subset']}/{r['judge']}": r["mean"] for r in report.rows}
    ctx.output.summary.update(
        {
            **out.summary,
            "baseline": cfg.baseline_name,
            "judge_roles": roles,
            "headline": headline,
            "planner_base": base_of(ctx, "planner"),
            "executor_base": base_of(ctx, "executor"),
        }
    )


def _cache_extra(config) -> str:
    return "|" + file_digest(config.eval)


register(
    StageSpec(
        name=NAME,
        summary="Temporal Order benchmark: one video per prompt per condition, judges + aesthetic score, report",
        inputs=(
            InputSpec("instructions", stage="instructions", fixed_step=0, optional=True),
            InputSpec("planner_adapter", stage="update_planner", optional=True),
            InputSpec("executor_adapter", stage="update_executor", optional=True),
            BOOTSTRAP_INPUT,
        ),
        outputs=("eval_results", "eval_videos", "eval_throughput", "scores", "reflections"),
        config_sections=("video", "executor", "planner", "rewards", "world", "data", "seed", "reflect", "eval"),
        run=run,
        cache_extra=_cache_extra,
        pins=condition_inputs,
    )
)
