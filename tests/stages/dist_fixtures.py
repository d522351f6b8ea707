"""Shared fixtures of the distributed stage tests: 2 instructions × 2 plans, tiny executor geometry, and fake
executor advantages (brightness of the transition chunk)."""

from __future__ import annotations

from test_rollout_stage import tiny_config  # noqa: F401 - re-exported

from stages.base import InputSpec, StageSpec, register, run_stage

STEPS = ["a dark square", "the square brightens", "it stays bright"]


def _plans(ctx):
    rows = []
    for ins in ("i0", "i1"):
        for m in range(2):
            rows.append(
                {
                    "plan_id": f"{ins}/p{m}",
                    "instruction_id": ins,
                    "plan_index": m,
                    "split": "train",
                    "prompt": f"{ins}: a dark square brightens",
                    "num_steps": 3,
                    "steps": STEPS,
                    "smoothed_steps": [s + " then " + t for s, t in zip(STEPS, STEPS[1:])] + STEPS[-1:],
                    "format_reward": 1.0,
                    "parse_status": "ok",
                    "raw_text": "[]",
                    "prompt_token_ids": [1],
                    "completion_token_ids": [2],
                    "completion_mask": [1],
                    "old_logprobs": [-0.1],
                    "adapter_version": "planner-v0",
                    "backend": "local",
                    "seed": m,
                    "finish_reason": "stop",
                    "error": None,
                }
            )
    ctx.output.write_table("plans.parquet", "plans", rows, params={"M": 2})


def _advantages(ctx):
    art = ctx.inputs["rollouts"]
    out = []
    for r in art.read_table("rollouts.parquet").to_pylist():
        g = art.read_tensors(r["group_path"])
        bright = g["states"][:, -1, :3].mean((1, 2, 3, 4))
        z = (bright - bright.mean()) / (bright.std() + 1e-6)
        out.append(
            {
                "sample_id": r["rollout_id"],
                "role": "executor",
                "group_id": r["plan_id"],
                "instruction_id": r["instruction_id"],
                "plan_id": r["plan_id"],
                "reward": float(bright[r["group_index"]]),
                "advantage": float(z[r["group_index"]]),
                "keep": True,
                "status": "scored",
                "zero_variance": False,
                "self_paced_weights": [],
            }
        )
    ctx.output.write_table("advantages.parquet", "advantages", out)


register(
    StageSpec(
        name="test_dist_plans",
        summary="2 instructions × 2 fake plans",
        inputs=(),
        outputs=("plans",),
        config_sections=("seed",),
        run=_plans,
    )
)
register(
    StageSpec(
        name="test_dist_exec_advantages",
        summary="fake executor advantages",
        outputs=("advantages",),
        inputs=(InputSpec("rollouts", stage="rollout"),),
        config_sections=("seed",),
        run=_advantages,
    )
)


def plans_and_rollouts(cfg, run, step=0):
    """(plans outcome, rollout outcome) of the fake plans at `step`."""
    plans = run_stage("test_dist_plans", cfg, run, step, show_progress=False)
    roll = run_stage("rollout", cfg, run, step, show_progress=False, pinned_inputs={"plans": plans.artifact.uri})
    return plans, roll
