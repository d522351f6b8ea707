"""generate stage (`plotline generate`): render videos of instructions with the run's policy, open loop or with
reflection (plan – act – reflect, DESIGN §7).

One plan per instruction from the planner, then one video per plan: in one pass, or span by span with the critic,
best-of-K regeneration from the forked KV cache, planner revisions and a memory of critiques, within the
`reflect` budget. Writes `reflections.parquet` (the audit trail: every critic call, decision, revision, chosen
candidate and finished video with its cost; open-loop videos have their `final` row only) and, with
`generate.write_videos`, one mp4 per video under `videos/`.

Instructions: `generate.prompts` when given, else the run's instructions of `generate.split` (or the world's
when none are committed). Policy: the bootstrap checkpoint (when committed) plus the update adapters of this
step (when committed), as the evaluation's `current` checkpoint.
"""

from __future__ import annotations

from plotline.eval.benchmark import prompt_file_name, rows_from_instructions
from plotline.eval.config import EvalSubset
from plotline.eval.runner import instruction_rows_of
from plotline.policy.reference import policy_from_inputs
from plotline.policy.render import render_instructions
from plotline.reflect.critic import build_critic
from plotline.reflect.trail import video_summaries
from stages.base import InputSpec, StageContext, StageSpec, register
from stages.provenance import BOOTSTRAP_INPUT, base_of, with_bootstrap

NAME = "generate"


def instruction_rows(ctx: StageContext) -> list[dict]:
    """The instructions to generate (see the module docstring), limited to `generate.limit`."""
    g = ctx.config.generate
    if g.prompts:
        rows = [{"instruction_id": f"prompt-{i:04d}", "prompt": p} for i, p in enumerate(g.prompts)]
    else:
        subset = EvalSubset(name=NAME, split=g.split)
        art = ctx.inputs.get("instructions")
        if art is not None:
            rows = rows_from_instructions(instruction_rows_of(art), subset)
        else:
            from plotline.world.instructions import instruction_rows as world_rows

            rows = rows_from_instructions(world_rows(ctx.config.world), subset)
    rows = rows[: g.limit] if g.limit else rows
    if not rows:
        raise ValueError(f"nothing to generate: no prompts given and no instructions of split {g.split!r}")
    return rows


def run(ctx: StageContext) -> None:
    """Plan and generate every instruction; write the trail and the videos."""
    from plotline.executor.video_io import encode_mp4

    cfg, g = with_bootstrap(ctx), ctx.config.generate
    condition = "reflect" if g.reflect else "open_loop"
    policy = policy_from_inputs(ctx.config.planner, ctx.config.executor, ctx.inputs)
    out = render_instructions(
        policy.planner,
        policy.executor,
        cfg.video,
        cfg.reflect,
        instruction_rows(ctx),
        reflect=g.reflect,
        seed=g.seed,
        make_critic=lambda: build_critic(cfg),
        planner_adapter=policy.planner_adapter,
        executor_adapter=policy.executor_adapter,
        lora_seed=ctx.seed("lora-init"),
        condition=condition,
        progress=lambda it, total, desc: ctx.progress(it, total=total, description=desc),
    )
    paths = {}
    if g.write_videos:
        for v in out.videos:
            path = f"videos/{prompt_file_name(v.instruction_id)}.mp4"
            ctx.output.write_bytes(path, encode_mp4(v.result.frames, cfg.executor.fps))
            paths[f"{condition}/{v.instruction_id}"] = path
    for row in out.trail:
        if row["event"] == "final":
            row["video_path"] = paths.get(row["video_id"])
    ctx.output.write_table("reflections.parquet", "reflections", out.trail)
    per_video = video_summaries(out.trail)
    ctx.output.summary.update(
        {
            **out.summary,
            "condition": condition,
            "budget_hit_videos": sum(v["budget_hit"] is not None for v in per_video),
            "plans": {v.instruction_id: v.plan_steps for v in out.videos},
            "final_steps": {v.instruction_id: v.result.steps for v in out.videos},
            "planner_base": base_of(ctx, "planner"),
            "executor_base": base_of(ctx, "executor"),
        }
    )


register(
    StageSpec(
        name=NAME,
        summary="Render instructions with the run's policy, open loop or with reflection (critic, remedies, budget)",
        inputs=(
            InputSpec("instructions", stage="instructions", fixed_step=0, optional=True),
            InputSpec("planner_adapter", stage="update_planner", optional=True),
            InputSpec("executor_adapter", stage="update_executor", optional=True),
            BOOTSTRAP_INPUT,
        ),
        outputs=("reflections",),
        config_sections=("generate", "reflect", "video", "executor", "planner", "rewards", "world", "data"),
        run=run,
    )
)
