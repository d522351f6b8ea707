"""Rollout work split into per-plan jobs, and sharded across device-pinned worker processes by instruction.

`roll_job` is what the rollout stage does for one plan (fork, batched continuations, decode, rows + tensors),
without store code; the stage calls it in its own process, or `run_rollout_shards` runs it in N worker
processes (the `rollout_shard` job of `plotline.parallel.worker`), each pinned to one GPU or to the CPU, and
yields the outputs back in plan order. Every job carries its seeds and its global index, so a plan's output does
not depend on which shard rolled it out: the merged artifact equals the unsharded one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from plotline.executor.config import ExecutorConfig
from plotline.executor.executor import Executor, build_executor
from plotline.executor.lora import load_adapter, read_adapter_meta
from plotline.executor.rollout_job import PlanRollout, group_tensors, mp4s, roll_plan, submit_mp4s
from plotline.executor.video_io import EncoderPool, overlapped
from plotline.parallel.jobs import WorkerContext, job_spec, register_job
from plotline.parallel.launch import read_json, run_shards, shard_devices, write_json
from plotline.parallel.progress import ProgressFactory
from plotline.progress import track
from plotline.video import VideoConfig

ROLLOUT_SHARD = "rollout_shard"
"""Job kind of one rollout shard."""


@dataclass
class RolloutJob:
    """One plan to roll out: its row of the plans table, its global index, fork frame, noise seed and ids."""

    index: int
    """Position of the plan in the plans table (names its group file and fixes the merge order)."""
    plan: dict
    fork_frame: int
    seed: int
    ids: list[str]
    """Rollout ids of the N continuations."""

    def to_json(self) -> dict:
        """JSON-able form (plans-table rows hold only JSON types)."""
        return asdict(self)


@dataclass
class PlanOutput:
    """What the stage writes for one plan: its group tensors, videos and rollout rows."""

    group_path: str
    tensors: dict[str, torch.Tensor]
    metadata: dict[str, str]
    videos: dict[str, bytes]
    rows: list[dict]


def rollout_jobs(
    plans: Sequence[dict], switch_frames: Sequence[int], num_continuations: int, seed: Callable[..., int]
) -> list[RolloutJob]:
    """One job per plan in table order; the fork frame and noise seed come from `seed("fork"|"noise", plan_id)`."""
    jobs = []
    for gi, plan in enumerate(plans):
        pid = plan["plan_id"]
        jobs.append(
            RolloutJob(
                gi,
                plan,
                switch_frames[seed("fork", pid) % len(switch_frames)],
                seed("noise", pid),
                [f"{pid}/c{n}" for n in range(num_continuations)],
            )
        )
    return jobs


def attach_policy(ex: Executor, adapter_dir: str | None) -> str:
    """Attach the adapter at `adapter_dir` (frozen) to the DiT; return its version (`base` without one)."""
    if adapter_dir is None:
        return "base"
    peft = load_adapter(ex.model, adapter_dir, ex.backbone, trainable=False)
    return str(peft.plotline_meta["version"])


def adapter_dir_version(adapter_dir: str | None) -> str:
    """The version an adapter folder records, without loading it (`base` without one)."""
    return "base" if adapter_dir is None else str(read_adapter_meta(adapter_dir)["version"])


def roll_job(ex: Executor, job: RolloutJob, version: str) -> PlanOutput:
    """Roll out one plan's N continuations as one batch and build its group tensors, mp4s and rows (with the
    executor's own config and video geometry)."""
    pr = roll_plan(ex, job.plan, job.fork_frame, job.seed, job.ids)
    videos = mp4s(pr, ex.config.fps) if ex.config.decode_videos else [None] * ex.config.num_continuations
    return plan_output(ex, job, version, pr, videos)


def roll_jobs(ex: Executor, jobs: Sequence[RolloutJob], version: str) -> Iterator[PlanOutput]:
    """`roll_job` of every job, in order, with plan i's mp4s encoded in an `EncoderPool` of
    `executor.encoder_workers` threads while plan i+1 rolls out (video_io.overlapped); the outputs are those of
    `roll_job` one job at a time, byte for byte. Without videos, or with 0 workers, it is that loop."""
    cfg = ex.config
    if not cfg.decode_videos or cfg.encoder_workers == 0:
        for job in jobs:
            yield roll_job(ex, job, version)
        return
    with EncoderPool(cfg.encoder_workers) as pool:
        yield from overlapped(
            jobs,
            lambda job: roll_plan(ex, job.plan, job.fork_frame, job.seed, job.ids),
            lambda pr: submit_mp4s(pr, cfg.fps, pool),
            lambda job, pr, pending: plan_output(ex, job, version, pr, [f.result() for f in pending]),
        )


def plan_output(ex: Executor, job: RolloutJob, version: str, pr: PlanRollout, videos: list) -> PlanOutput:
    """A rolled-out plan's group tensors, mp4 files (`videos`: bytes or None per continuation) and rows."""
    video = ex.video
    plan, pid, k, gi = job.plan, job.plan["plan_id"], job.fork_frame, job.index
    gpath = f"groups/g{gi:05d}.safetensors"
    t = pr.rollout.trajectory
    rows, files = [], {}
    for n, rid in enumerate(job.ids):
        vpath = None
        if videos[n] is not None:
            vpath = f"videos/g{gi:05d}_c{n}.mp4"
            files[vpath] = videos[n]
        rows.append(
            {
                "rollout_id": rid,
                "plan_id": pid,
                "instruction_id": plan["instruction_id"],
                "continuation_index": n,
                "prompt": plan["prompt"],
                "switch_step": pr.switch_step,
                "fork_frame": k,
                "num_latent_frames": video.target_latent_frames,
                "transition_start": k,
                "transition_end": min(k + video.frames_per_chunk, video.target_latent_frames),
                "step_prompt": list(plan["steps"])[pr.switch_step],
                "span_prompts": pr.span_prompts,
                "span_starts": pr.starts,
                "video_path": vpath,
                "num_video_frames": int(pr.frames.shape[1]),
                "frames_path": gpath,
                "sampled_frame_indices": pr.sampled,
                "group_path": gpath,
                "group_index": n,
                "logprobs_old": [float(x) for x in t.logprobs[n]],
                "sigmas": [float(s) for s in t.sigmas],
                "backbone": ex.backbone.name,
                "executor_adapter_version": version,
                "planner_adapter_version": str(plan.get("adapter_version") or ""),
                "seed": job.seed,
            }
        )
    return PlanOutput(gpath, group_tensors(pr), {"plan_id": pid, "adapter_version": version}, files, rows)


def shard_by_instruction(jobs: Sequence[RolloutJob], num_shards: int) -> list[list[RolloutJob]]:
    """Split jobs into at most `num_shards` non-empty shards of whole instructions (in order of first
    appearance, contiguous runs of about equal plan counts); jobs keep their table order inside a shard."""
    order: list[str] = []
    by_ins: dict[str, list[RolloutJob]] = {}
    for j in jobs:
        ins = j.plan["instruction_id"]
        if ins not in by_ins:
            order.append(ins)
            by_ins[ins] = []
        by_ins[ins].append(j)
    shards: list[list[RolloutJob]] = [[] for _ in range(max(1, min(num_shards, len(order))))]
    total, done = len(jobs), 0
    for ins in order:
        s = min(len(shards) - 1, done * len(shards) // max(total, 1))
        shards[s].extend(by_ins[ins])
        done += len(by_ins[ins])
    return [sorted(s, key=lambda j: j.index) for s in shards if s]


def save_output(out: PlanOutput, folder: str | Path, index: int) -> None:
    """Write one plan's output into a worker's result folder (tensors, videos, rows)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(out.tensors, str(folder / f"{index:05d}.safetensors"))
    for name, data in out.videos.items():
        dest = folder / "files" / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    write_json(
        folder / f"{index:05d}.json",
        {"group_path": out.group_path, "metadata": out.metadata, "videos": list(out.videos), "rows": out.rows},
    )


def load_output(folder: str | Path, index: int) -> PlanOutput:
    """Read back what `save_output` wrote."""
    from safetensors.torch import load_file

    folder = Path(folder)
    meta = read_json(folder / f"{index:05d}.json")
    return PlanOutput(
        meta["group_path"],
        load_file(str(folder / f"{index:05d}.safetensors")),
        meta["metadata"],
        {v: (folder / "files" / v).read_bytes() for v in meta["videos"]},
        meta["rows"],
    )


def run_rollout_shards(
    executor: ExecutorConfig,
    video: VideoConfig,
    jobs: Sequence[RolloutJob],
    adapter_dir: str | None,
    version: str,
    workdir: str | Path,
    timeout_s: float | None = None,
    progress: ProgressFactory | None = None,
) -> Iterator[PlanOutput]:
    """Roll the jobs out in `executor.num_shards` concurrent worker processes (split by instruction, pinned to
    GPUs per `shard_devices`, or to the CPU); then yield every plan's output in table order. A failed shard stops
    the others and raises its error (see `plotline.parallel.launch`). Shard i's plans rolled out go to
    `progress("shard <i> rollout")`."""
    workdir = Path(workdir)
    shards = shard_by_instruction(jobs, executor.num_shards)
    devices = shard_devices(len(shards), executor.device, executor.shard_devices)
    specs = [
        job_spec(
            ROLLOUT_SHARD,
            sections={"executor": executor, "video": video},
            out_dir=str(workdir / "out"),
            inputs={"jobs": [j.to_json() for j in shard], "adapter_dir": adapter_dir, "version": version},
        )
        for shard in shards
    ]
    run_shards(specs, devices, workdir, what="rollout", timeout_s=timeout_s, progress=progress)
    for job in sorted(jobs, key=lambda j: j.index):
        yield load_output(workdir / "out", job.index)


@register_job(ROLLOUT_SHARD)
def rollout_shard(ctx: WorkerContext) -> None:
    """One rollout shard: build the executor on this worker's device, attach the adapter (asserting the version the
    stage recorded), roll out the spec's jobs and write each plan's output into the shared result folder."""
    ex = build_executor(ctx.section("executor", ExecutorConfig), ctx.section("video", VideoConfig), device=ctx.device)
    adapter_dir, expected = ctx.input("adapter_dir"), ctx.input("version")
    version = attach_policy(ex, adapter_dir)
    if version != expected:
        raise RuntimeError(
            f"shard {ctx.spec.shard}: the adapter at {adapter_dir} is version {version!r}, "
            f"but the rollout stage expected {expected!r}"
        )
    jobs = [RolloutJob(**item) for item in ctx.input("jobs")]
    outputs = track(roll_jobs(ex, jobs, version), ctx.reporter("rollout"), total=len(jobs))
    for job, out in zip(jobs, outputs, strict=True):
        save_output(out, ctx.spec.out_dir, job.index)
