"""rollout stage: for every plan, fork at a switch frame k, generate N continuations as one batch, record the
transition chunk's trajectory, decode videos (DESIGN §2 rollout). Writes rollouts.parquet + group safetensors +
mp4s; every row records the executor adapter version that produced it."""
from __future__ import annotations

from plotline.executor.executor import build_executor
from plotline.executor.lora import load_adapter
from plotline.executor.rollout_job import group_tensors, mp4s, roll_plan
from stages.base import InputSpec, StageContext, StageSpec, register


def load_policy_adapter(ctx: StageContext, ex) -> str:
    """Attach the previous update's adapter (if any) to the DiT; return its version ("base" without one)."""
    art = ctx.inputs.get("executor_adapter")
    if art is None:
        return "base"
    peft = load_adapter(ex.model, art.local_dir("adapter"), ex.backbone, trainable=False)
    return str(peft.plotline_meta["version"])


def run(ctx: StageContext) -> None:
    """Roll out every plan of the step."""
    cfg, video = ctx.config, ctx.config.video
    n_cont = cfg.executor.num_continuations
    ex = build_executor(cfg.executor, video)
    version = load_policy_adapter(ctx, ex)
    plans = ctx.inputs["plans"].read_table("plans.parquet").to_pylist()
    rows = []
    for gi, plan in enumerate(ctx.progress(plans, total=len(plans), description="rollout")):
        pid = plan["plan_id"]
        choices = video.switch_frames
        k = choices[ctx.seed("fork", pid) % len(choices)]
        seed = ctx.seed("noise", pid)
        ids = [f"{pid}/c{n}" for n in range(n_cont)]
        pr = roll_plan(ex, plan, k, seed, ids)
        gpath = f"groups/g{gi:05d}.safetensors"
        ctx.output.write_tensors(gpath, group_tensors(pr), metadata={"plan_id": pid, "adapter_version": version})
        videos = mp4s(pr, cfg.executor.fps) if cfg.executor.decode_videos else [None] * n_cont
        t = pr.rollout.trajectory
        for n, rid in enumerate(ids):
            vpath = None
            if videos[n] is not None:
                vpath = f"videos/g{gi:05d}_c{n}.mp4"
                ctx.output.write_bytes(vpath, videos[n])
            rows.append({
                "rollout_id": rid, "plan_id": pid, "instruction_id": plan["instruction_id"], "continuation_index": n,
                "prompt": plan["prompt"], "switch_step": pr.switch_step, "fork_frame": k,
                "num_latent_frames": video.target_latent_frames, "transition_start": k,
                "transition_end": min(k + video.frames_per_chunk, video.target_latent_frames),
                "step_prompt": list(plan["steps"])[pr.switch_step], "span_prompts": pr.span_prompts,
                "span_starts": pr.starts, "video_path": vpath, "num_video_frames": int(pr.frames.shape[1]),
                "frames_path": gpath, "sampled_frame_indices": pr.sampled, "group_path": gpath, "group_index": n,
                "logprobs_old": [float(x) for x in t.logprobs[n]], "sigmas": [float(s) for s in t.sigmas],
                "backbone": ex.backbone.name, "executor_adapter_version": version,
                "planner_adapter_version": str(plan.get("adapter_version") or ""), "seed": seed,
            })
    ctx.output.write_table("rollouts.parquet", "rollouts", rows, params={"N": n_cont})
    ctx.output.summary.update({"plans": len(plans), "rollouts": len(rows), "executor_adapter_version": version,
                               "backbone": ex.backbone.name})


register(StageSpec(
    name="rollout",
    summary="Render N continuations per plan from a shared, forked prefix (one batch per plan)",
    inputs=(InputSpec("plans", stage="plan"),
            InputSpec("executor_adapter", stage="update_executor", step_offset=-1, optional=True)),
    outputs=("rollouts",),
    config_sections=("video", "executor", "seed"),
    run=run,
))
