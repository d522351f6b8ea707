"""Held-out evaluation of a shapes-world policy: the temporal-following score of its videos on eval-split
instructions (what the learning test and the benchmark compare between the bootstrap and an RL-trained policy).

For each eval instruction the planner samples M plans (the local backend, the run's sampling settings); the
executor renders each plan's whole video from fixed noise (no fork: span prompts Smooth(s_j, s_{j+1}) from frame
0); the run's temporal-following judge scores frames over the whole video through the same request, parser and
weights as the score stage. Same seeds for every policy, so two policies are compared on the same draws.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
import torch

from plotline.config import PlotlineConfig
from plotline.store import RunStore


@dataclass(frozen=True)
class Policy:
    """Local paths of a policy: planner base (+ LoRA adapter) and executor checkpoint (+ LoRA adapter)."""

    planner_base: str
    executor_checkpoint: str
    planner_adapter: Optional[str] = None
    executor_adapter: Optional[str] = None


@dataclass
class EvalResult:
    """Scores of one policy on the eval instructions: per video the judge's aggregate (R_video in [0, 1]),
    its final_score / 10 and temporal_order_score / 10."""

    temporal: list[float] = field(default_factory=list)
    final: list[float] = field(default_factory=list)
    order: list[float] = field(default_factory=list)
    plans_correct: float = 0.0
    """Share of plans whose steps are the template plan (ground-truth order, `stay` padding)."""

    @property
    def temporal_mean(self) -> float:
        """Mean temporal-following score (R_video)."""
        return float(np.mean(self.temporal)) if self.temporal else float("nan")

    def summary(self) -> dict:
        """Means of every score."""
        return {"temporal": self.temporal_mean, "final": float(np.mean(self.final)),
                "order": float(np.mean(self.order)), "plans_correct": self.plans_correct, "videos": len(self.temporal)}


def run_policy(store: RunStore, step: Optional[int]) -> Policy:
    """The policy of a run: the bootstrap checkpoint plus the update adapters of `step` (None: no adapters)."""
    boot = store.latest("bootstrap", 0, "checkpoints")
    if boot is None:
        raise FileNotFoundError(f"{store.uri} has no committed bootstrap checkpoint")
    adapters = {}
    for stage in ("update_planner", "update_executor"):
        art = store.latest(stage, step) if step is not None else None
        if step is not None and art is None:
            raise FileNotFoundError(f"{store.uri} has no committed {stage} at step {step}")
        adapters[stage] = art.local_dir("adapter") if art is not None else None
    return Policy(boot.local_dir("planner"), boot.local_path("executor/dit.safetensors"),
                  adapters["update_planner"], adapters["update_executor"])


def eval_instructions(config: PlotlineConfig) -> list:
    """The eval split of the run's world (held-out combinations only)."""
    from plotline.world.generator import generate_instructions

    return [i for i in generate_instructions(config.world) if i.split == "eval"]


def evaluate_policy(config: PlotlineConfig, policy: Policy, instructions: Sequence, num_plans: int = 4,
                    seed: int = 1234) -> EvalResult:
    """Sample, render and judge `num_plans` videos per instruction (WorldInstruction) with `policy`."""
    from plotline.executor.executor import build_executor
    from plotline.executor.lora import load_adapter
    from plotline.executor.prompts import span_starts
    from plotline.executor.rollout_job import conditioning_prompts
    from plotline.executor.video_io import to_uint8
    from plotline.planner.backends import BackendContext, make_backend
    from plotline.planner.model import load_planner
    from plotline.planner.sampling import Instruction, sample_plans
    from plotline.rewards.frames import whole_video_indices
    from plotline.rewards.judges import create_backend
    from plotline.rewards.judges.scorer import JudgeScorer
    from plotline.rewards.scoring import programmatic_rewards, video_requests
    from plotline.world.backbone import ensure_registered
    from plotline.world.plans import template_plan

    ensure_registered()
    video, rewards = config.video, config.rewards
    pcfg = config.planner.model_copy(update={"num_plans": num_plans, "base_model": policy.planner_base})
    planner = load_planner(policy.planner_base, policy.planner_adapter, trainable=False, lora=pcfg.lora)
    backend = make_backend("local", BackendContext(pcfg, planner.tokenizer, planner.adapter_version, planner=planner))
    records = sample_plans(backend, planner.tokenizer,
                           [Instruction(i.instruction_id, i.prompt, i.split) for i in instructions], pcfg,
                           video.num_steps, seed)
    ex = build_executor(config.executor.model_copy(update={"checkpoint": policy.executor_checkpoint}), video)
    if policy.executor_adapter:
        load_adapter(ex.model, policy.executor_adapter, ex.backbone, trainable=False)
    provided = programmatic_rewards(config)
    provided.install()
    scorer = JudgeScorer(create_backend(rewards), rewards)
    starts = span_starts(video.target_latent_frames, video.latent_frames_per_step)
    requests, correct = [], 0
    by_id = {i.instruction_id: i for i in instructions}
    with torch.no_grad():
        for r in records:
            plan = {"plan_id": r.plan_id, "steps": r.steps, "smoothed_steps": r.smoothed_steps}
            correct += r.steps == template_plan(by_id[r.instruction_id].scenario, video.num_steps)
            contexts = ex.encode(conditioning_prompts(plan, ex))
            noise = ex.noise(seed)
            latents, _ = ex.generator.run(ex.generator.new_cache(), contexts, starts, 0, video.target_latent_frames,
                                          lambda c, key=r.plan_id: noise.batch([(key, 0)], c))
            frames = to_uint8(ex.decoder(latents)[0])
            whole = [frames[i] for i in whole_video_indices(len(frames), rewards.frames.temporal_num_frames)]
            requests.append(video_requests(r.prompt, r.steps[0], None, whole, whole[:1], rewards)[0])
    out = EvalResult(plans_correct=correct / max(len(records), 1))
    for o in scorer.score(requests):
        if o.result.score is None:
            continue
        out.temporal.append(float(o.result.score))
        out.final.append(float(o.result.fields["final_score"]) / 10.0)
        out.order.append(float(o.result.fields["temporal_order_score"]) / 10.0)
    return out
