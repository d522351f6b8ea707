"""rollout stage: for every plan, fork at a switch frame k, generate N continuations as one batch, record the
transition chunk's trajectory, decode videos (DESIGN §2 rollout). Writes rollouts.parquet + group safetensors +
mp4s; every row records the executor adapter version that produced it.

With `executor.num_shards` > 1 the plans are split by instruction over device-pinned worker processes
(`plotline.executor.sharding`); their outputs are written here in plan order, equal to an unsharded run.

When score streams (`orchestration.stream_score`, plotline.concurrency.stream_decision), each plan's rows, group
tensors and mp4s are published as a part of this attempt as soon as they are written (plotline.store.parts), in
plan order, for the score stage to judge while the next plan rolls out; the parts are removed before the commit,
so the committed artifact is the same as without streaming (docs/streaming_score.md)."""

from __future__ import annotations

import tempfile

from plotline.concurrency import stream_decision
from plotline.executor.backbones import get_backbone
from plotline.executor.executor import build_executor
from plotline.executor.sharding import adapter_dir_version, attach_policy, roll_jobs, rollout_jobs, run_rollout_shards
from plotline.policy.spans import condition_plans
from plotline.store.parts import PartWriter
from stages.base import InputSpec, StageContext, StageSpec, get_spec, register, stage_config_key
from stages.provenance import BOOTSTRAP_INPUT, base_of, with_bootstrap


def policy_adapter_dir(ctx: StageContext) -> str | None:
    """Local folder of the previous update's adapter (None: roll out with the base DiT)."""
    art = ctx.inputs.get("executor_adapter")
    return art.local_dir("adapter") if art is not None else None


def load_policy_adapter(ctx: StageContext, ex) -> str:
    """Attach the previous update's adapter (if any) to the DiT; return its version ("base" without one)."""
    return attach_policy(ex, policy_adapter_dir(ctx))


def stream_header(ctx: StageContext) -> dict:
    """What a streaming reader matches this attempt by: the rollout's config key and its inputs' manifest ids."""
    return {
        "stage": ctx.stage,
        "step": ctx.step,
        "config_hash": stage_config_key(get_spec(ctx.stage), ctx.config),
        "inputs": {k: a.manifest.manifest_id for k, a in sorted(ctx.inputs.items()) if a is not None},
    }


def rows_table(rows: list[dict]):
    """`rows` as a table of the rollouts contract's schema (a part's rows, read back by the streaming score)."""
    import pyarrow as pa

    from data_contracts import get_kind

    return pa.Table.from_pylist(rows, schema=get_kind("rollouts").schema)


def run(ctx: StageContext) -> None:
    """Roll out every plan of the step."""
    cfg, video = with_bootstrap(ctx), ctx.config.video
    n_cont = cfg.executor.num_continuations
    plans = condition_plans(
        ctx.inputs["plans"].read_table("plans.parquet").to_pylist(), cfg.planner.smooth_joiner, video.num_steps
    )
    jobs = rollout_jobs(plans, video.switch_frames, n_cont, ctx.seed)
    parts = PartWriter(ctx.output, stream_header(ctx)) if stream_decision(ctx.config).concurrent else None
    with tempfile.TemporaryDirectory() as tmp:
        if cfg.executor.num_shards > 1:
            adapter_dir = policy_adapter_dir(ctx)
            version, backbone = adapter_dir_version(adapter_dir), get_backbone(cfg.executor.backbone).name
            outputs = run_rollout_shards(cfg.executor, video, jobs, adapter_dir, version, tmp, progress=ctx.reporter)
        else:
            ex = build_executor(cfg.executor, video)
            version, backbone = load_policy_adapter(ctx, ex), ex.backbone.name
            outputs = roll_jobs(ex, jobs, version)
        rows = []
        for i, out in enumerate(ctx.progress(outputs, total=len(jobs), description="rollout")):
            entries = [ctx.output.write_tensors(out.group_path, out.tensors, metadata=out.metadata)]
            for path, data in out.videos.items():
                entries.append(ctx.output.write_bytes(path, data))
            rows += out.rows
            if parts is not None:
                parts.commit(jobs[i].plan["plan_id"], entries, rows_table(out.rows))
    ctx.output.write_table("rollouts.parquet", "rollouts", rows, params={"N": n_cont})
    ctx.output.summary.update(
        {
            "plans": len(plans),
            "rollouts": len(rows),
            "executor_adapter_version": version,
            "backbone": backbone,
            "executor_base": base_of(ctx, "executor"),
        }
    )
    if parts is not None:
        parts.close()


register(
    StageSpec(
        name="rollout",
        summary="Render N continuations per plan from a shared, forked prefix (one batch per plan)",
        inputs=(
            InputSpec("plans", stage="plan"),
            InputSpec("executor_adapter", stage="update_executor", step_offset=-1, optional=True),
            BOOTSTRAP_INPUT,
        ),
        outputs=("rollouts",),
        config_sections=("video", "executor", "planner.smooth_joiner", "seed"),
        run=run,
    )
)
