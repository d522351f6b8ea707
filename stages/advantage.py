"""advantage stage: aggregate scores into R_plan / R_exec and hierarchical group advantages (DESIGN §2, §5)."""

from __future__ import annotations

from plotline.rl.advantage_table import compute_advantages
from stages.base import InputSpec, StageContext, StageSpec, register


def run(ctx: StageContext) -> None:
    """Write advantages.parquet; diagnostics (zero-variance groups, unscored counts, self-paced weights, the
    critic reward term when the scores carry one) go to the manifest summary."""
    plans = ctx.inputs["plans"].read_table("plans.parquet").to_pandas()
    scores = ctx.inputs["scores"].read_table("scores.parquet").to_pandas()
    table, summary = compute_advantages(
        plans, scores, ctx.config.rewards.weights, ctx.config.rl.advantage, ctx.config.reflect.critic_reward.weight
    )
    ctx.output.write_table("advantages.parquet", "advantages", table.to_dict("records"))
    ctx.output.summary.update(summary)


register(
    StageSpec(
        name="advantage",
        summary="Rewards -> group-relative advantages (planner over M plans, executor over N continuations)",
        inputs=(InputSpec("plans", stage="plan"), InputSpec("scores", stage="score")),
        outputs=("advantages",),
        config_sections=("rewards.weights", "rl.advantage", "reflect.critic_reward.weight"),
        run=run,
    )
)
