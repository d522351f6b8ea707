"""One benchmark run: every condition × subset generated, judged and timed (the library behind the evaluate
stage; it writes nothing itself — videos go through a callback, tables come back)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from plotline.eval.benchmark import (
    BenchmarkError,
    BenchmarkPrompt,
    file_rows,
    load_benchmark,
    prompt_file_name,
    rows_from_instructions,
    world_rows,
)
from plotline.eval.checkpoints import ResolvedCheckpoint, open_artifact, resolve_checkpoint
from plotline.eval.conditions import (
    PLANNER_MODES,
    GeneratedBatch,
    VideoJob,
    generate_videos,
    plan_prompts,
    span_prompts,
)
from plotline.eval.config import EvalConfig, EvalSubset, eval_section
from plotline.eval.judging import (
    JUDGE_METRICS,
    JudgedVideo,
    aesthetic_frames,
    aesthetic_scorer,
    judge_videos,
    make_scorer,
    metric_values,
    reply_row,
    result_row,
)


@dataclass
class EvalOutputs:
    """The tables of one benchmark run and its summary."""

    results: list[dict] = field(default_factory=list)
    videos: list[dict] = field(default_factory=list)
    throughput: list[dict] = field(default_factory=list)
    replies: list[dict] = field(default_factory=list)
    reflections: list[dict] = field(default_factory=list)
    """Trail rows (kind `reflections`) of every condition when any condition reflects, else empty."""
    summary: dict = field(default_factory=dict)


def instruction_rows_of(art) -> list[dict]:
    """Rows of the instructions table of a committed artifact (the file of kind `instructions`)."""
    names = [f.name for f in art.manifest.files if f.kind == "instructions"]
    if not names:
        raise BenchmarkError(f"{art.uri} has no file of kind `instructions` (files: {', '.join(art.files)})")
    return art.read_table(names[0]).to_pylist()


def subset_rows(config, instructions, storage=None) -> Callable[[EvalSubset], list[dict]]:
    """The row source of load_benchmark for this run (its instructions artifact, files, artifacts, the world)."""

    def rows_for(subset: EvalSubset) -> list[dict]:
        if subset.source == "file":
            return file_rows(subset)
        if subset.source == "artifact":
            return rows_from_instructions(instruction_rows_of(open_artifact(subset.path, storage)), subset)
        if subset.source == "world":
            return world_rows(config.world, subset)
        if instructions is None:
            if config.data.source == "world":
                return world_rows(config.world, subset)
            raise BenchmarkError(
                f"eval subset {subset.name!r} reads the run's instructions, but none are committed "
                "(run the instructions stage, or give the subset a file/artifact source)"
            )
        return rows_from_instructions(instruction_rows_of(instructions), subset)

    return rows_for


def _sample_id(condition: str, prompt: BenchmarkPrompt) -> str:
    return f"{condition}/{prompt.subset}/{prompt.prompt_id}"


class _Executors:
    """Builds executors per adapter, reusing the last one when consecutive conditions share it. An RL adapter is
    merged into the DiT weights for evaluation (same outputs, no LoRA overhead per forward)."""

    def __init__(self, config, merge: bool = True):
        self.config, self.key, self.ex, self.merge = config, None, None, merge

    def get(self, adapter: str | None):
        if self.ex is not None and self.key == (adapter,):
            return self.ex
        from plotline.policy.executors import open_executor

        self.ex = open_executor(self.config.executor, self.config.video, adapter, merge=self.merge)
        self.key = (adapter,)
        return self.ex


def reflective_batches(
    config, cond, ex, jobs: list[VideoJob], plans: dict, planner_config, planner_adapter, lora_seed: int, progress=None
):
    """Generate the jobs of a reflective condition one by one (plotline.reflect.loop); yields (GeneratedBatch of
    one video, its trail rows). The first candidate of every span uses the open-loop noise of the same prompt."""
    from plotline.eval.conditions import conditioning, mode_steps
    from plotline.policy.planners import open_reviser
    from plotline.reflect.critic import build_critic
    from plotline.reflect.loop import ReflectiveGenerator, VideoSpec

    ecfg, rcfg = eval_section(config), config.reflect
    reviser = None
    if cond.mode in PLANNER_MODES and "replan" in rcfg.remedies:
        reviser = open_reviser(rcfg, planner_config, planner_adapter, ecfg.seed, lora_seed)
    generator = ReflectiveGenerator(ex, build_critic(config), rcfg, reviser)
    noise = ex.noise(ecfg.seed)
    for job in (progress or (lambda it, total, desc: it))(jobs, len(jobs), f"reflect {cond.name}"):
        p = job.prompt
        plan = plans.get(f"{p.subset}/{p.prompt_id}")
        spec = VideoSpec(
            job.sample_id,
            p.prompt_id,
            p.prompt,
            mode_steps(cond.mode, p, plan),
            conditioning(cond.mode, config.planner.smooth_joiner),
            ("eval", p.subset, p.prompt_id),
            p.geometry.num_frames,
            p.geometry.frames_per_step,
            cond.name,
        )
        result = generator.generate(spec, noise)
        job.span_prompts = list(result.span_prompts)
        yield GeneratedBatch([job], [result.frames], result.seconds), result.trail


def open_loop_trail(cond, batch: GeneratedBatch, chunk_frames: int) -> list[dict]:
    """`final` trail rows of an open-loop batch (no critic): each video's chunks of one pass and its share of the
    batch's seconds, so every condition's cost sits in one table."""
    from plotline.reflect.budget import Budget
    from plotline.reflect.trail import TrailRecorder

    rows = []
    for job in batch.jobs:
        chunks = -(-job.prompt.geometry.num_frames // chunk_frames)
        trail = TrailRecorder(
            job.sample_id, job.prompt.prompt_id, cond.name, Budget(0, 0, 0, chunk_generations=chunks), chunks
        )
        rows += [
            trail.add(
                "final",
                -1,
                0,
                steps=job.plan_steps or job.span_prompts,
                reason="open loop (no critic)",
                latency_s=batch.seconds / len(batch.jobs),
            )
        ]
    return rows


def _frame_counts(ecfg: EvalConfig, rewards) -> set[int]:
    counts = {j.num_frames or rewards.frames.temporal_num_frames for j in ecfg.judges}
    return counts | ({ecfg.aesthetic_frames} if ecfg.aesthetic != "none" else set())


def run_benchmark(
    config,
    inputs: Mapping[str, object | None],
    *,
    instructions=None,
    write_video: Callable[[str, bytes], None] | None = None,
    progress=None,
    lora_seed: int = 0,
) -> EvalOutputs:
    """Generate one video per benchmark prompt for every condition, judge them with every judge, add the
    aesthetic score, and time generation. `config` is a PlotlineConfig (with an `eval` section or the defaults);
    `inputs` are the stage's resolved inputs: its update outputs (`current`) and the checkpoints it pinned
    (plotline.eval.checkpoints.resolve_checkpoint)."""
    from plotline.executor.video_io import encode_mp4

    ecfg = eval_section(config)
    out = EvalOutputs()
    prompts = load_benchmark(ecfg, config.video, subset_rows(config, instructions, config.storage))
    counts = sorted(_frame_counts(ecfg, config.rewards))
    executors = _Executors(config)
    any_reflect = any(c.reflect for c in ecfg.conditions)
    judged: list[tuple[dict, BenchmarkPrompt, dict[int, list[np.ndarray]]]] = []
    resolved: dict[str, ResolvedCheckpoint] = {}
    device = "cpu"
    for cond in ecfg.conditions:
        ckpt = resolve_checkpoint(cond, inputs, config.planner.cold_start_adapter)
        resolved[cond.name] = ckpt
        plans, planning_s, plan_version, pcfg = {}, 0.0, "", None
        if cond.mode in PLANNER_MODES:
            if not config.planner.base_model:
                raise BenchmarkError(f"condition {cond.name!r} (mode {cond.mode}) needs planner.base_model")
            pcfg = config.planner.model_copy(
                update={
                    "num_plans": 1,
                    "temperature": ecfg.planner_temperature or config.planner.temperature,
                    "top_p": ecfg.planner_top_p or config.planner.top_p,
                }
            )
            plans, planning_s = plan_prompts(pcfg, ckpt.planner_adapter, prompts, ecfg.seed, lora_seed)
            plan_version = next(iter(plans.values())).adapter_version if plans else ""
        jobs = []
        for p in prompts:
            plan = plans.get(f"{p.subset}/{p.prompt_id}")
            jobs.append(
                VideoJob(
                    _sample_id(cond.name, p),
                    p,
                    span_prompts(cond.mode, p, plan, config.planner.smooth_joiner),
                    list(plan.steps) if plan else [],
                    plan.status if plan else None,
                )
            )
        ex = executors.get(ckpt.executor_adapter)
        device = str(ex.device)
        per_subset: dict[str, dict] = {}
        if cond.reflect:
            batches = reflective_batches(config, cond, ex, jobs, plans, pcfg, ckpt.planner_adapter, lora_seed, progress)
        else:
            batches = (
                (b, open_loop_trail(cond, b, ex.generator.chunk_frames) if any_reflect else [])
                for b in generate_videos(ex, jobs, ecfg.batch_size, ecfg.seed, progress)
            )
        for batch, trail in batches:
            paths = {}
            for job, frames in zip(batch.jobs, batch.frames):
                p = job.prompt
                stats = per_subset.setdefault(p.subset, {"videos": 0, "frames": 0, "seconds": 0.0})
                stats["videos"] += 1
                stats["frames"] += p.geometry.num_frames
                video_path = None
                if ecfg.write_videos and write_video is not None:
                    video_path = f"videos/{cond.name}/{p.subset}/{prompt_file_name(p.prompt_id)}.mp4"
                    write_video(video_path, encode_mp4(frames, config.executor.fps))
                    paths[job.sample_id] = video_path
                meta = {
                    "sample_id": job.sample_id,
                    "condition": cond.name,
                    "prompt_id": p.prompt_id,
                    "subset": p.subset,
                    "category": p.category,
                    "mode": cond.mode,
                    "checkpoint": cond.checkpoint,
                }
                out.videos.append(
                    {
                        **{
                            k: meta[k]
                            for k in ("sample_id", "condition", "mode", "checkpoint", "prompt_id", "subset", "category")
                        },
                        "prompt": p.prompt,
                        "gt_steps": list(p.steps),
                        "plan_steps": job.plan_steps,
                        "plan_status": job.plan_status,
                        "span_prompts": job.span_prompts,
                        "num_steps": p.geometry.num_steps,
                        "latent_frames_per_step": p.geometry.frames_per_step,
                        "latent_frames": p.geometry.num_frames,
                        "num_video_frames": int(frames.shape[0]),
                        "video_path": video_path,
                        "planner_source": ckpt.planner_source if cond.mode in PLANNER_MODES else "none",
                        "executor_source": ckpt.executor_source,
                        "planner_adapter_version": plan_version,
                        "seed": ecfg.seed,
                    }
                )
                sampled = {n: aesthetic_frames(frames, n) for n in counts}
                judged.append((meta, p, sampled))
            per_subset[batch.jobs[0].prompt.subset]["seconds"] += batch.seconds  # a batch holds one subset
            for row in trail:
                if row["event"] == "final":
                    row["video_path"] = paths.get(row["video_id"])
            out.reflections += trail
        total_videos = sum(s["videos"] for s in per_subset.values())
        for subset, s in per_subset.items():
            secs = max(s["seconds"], 1e-9)
            out.throughput.append(
                {
                    "condition": cond.name,
                    "subset": subset,
                    "mode": cond.mode,
                    "checkpoint": cond.checkpoint,
                    "videos": s["videos"],
                    "latent_frames": s["frames"],
                    "generation_s": s["seconds"],
                    "planning_s": planning_s * s["videos"] / total_videos,
                    "videos_per_s": s["videos"] / secs,
                    "latent_frames_per_s": s["frames"] / secs,
                    "batch_size": 1 if cond.reflect else ecfg.batch_size,
                    "device": device,
                }
            )

    judge_seconds = {}
    for judge in ecfg.judges:
        scorer = make_scorer(judge, config.rewards, config.world)
        n = scorer.config.frames.temporal_num_frames
        videos = [
            JudgedVideo(meta["sample_id"], p.prompt, p.steps, np.stack(sampled[n])) for meta, p, sampled in judged
        ]
        outcomes, judge_seconds[judge.name] = judge_videos(judge, scorer, videos)
        for (meta, _, _), outcome in zip(judged, outcomes):
            values = metric_values(outcome)
            res = outcome.result
            for metric in JUDGE_METRICS:
                value = values[metric]
                if res.usable and value is None:
                    out.results.append(
                        result_row(meta, judge.name, metric, None, None, "unscored", f"reply has no {metric}")
                    )
                    continue
                raw = None if value is None else (value if metric == "score" else value * 10.0)
                out.results.append(
                    result_row(meta, judge.name, metric, value, raw, res.status, res.reason if not res.usable else None)
                )
            out.replies.append(reply_row(judge, meta["sample_id"], meta["prompt_id"], meta["condition"], outcome))

    aesthetic = aesthetic_scorer(ecfg, config.rewards, config.world)
    if aesthetic is not None:
        name, fn = aesthetic
        start = time.perf_counter()
        unit, native = fn([p.prompt for _, p, _ in judged], [s[ecfg.aesthetic_frames] for _, _, s in judged])
        judge_seconds[name] = time.perf_counter() - start
        for (meta, _, _), u, nat in zip(judged, unit, native):
            ok = bool(np.isfinite(u) and np.isfinite(nat))
            out.results.append(
                result_row(
                    meta,
                    name,
                    name,
                    float(u) if ok else None,
                    float(nat) if ok else None,
                    "ok" if ok else "unscored",
                    None if ok else "non-finite score",
                )
            )

    statuses = Counter(
        (r["judge"], r["status"]) for r in out.results if r["metric"] in ("score",) or r["judge"] == r["metric"]
    )
    out.summary = {
        "prompts": len(prompts),
        "videos": len(out.videos),
        "conditions": [c.name for c in ecfg.conditions],
        "subsets": sorted({p.subset for p in prompts}),
        "judges": [j.name for j in ecfg.judges],
        "aesthetic": aesthetic[0] if aesthetic else None,
        "device": device,
        "judge_seconds": judge_seconds,
        "unscored": {j: n for (j, s), n in statuses.items() if s == "unscored"},
        "checkpoints": {
            k: {"planner": v.planner_source, "executor": v.executor_source, "manifests": v.manifests}
            for k, v in resolved.items()
        },
    }
    if out.reflections:
        from plotline.reflect.trail import condition_costs

        out.summary["reflection_costs"] = condition_costs(out.reflections)
    return out
