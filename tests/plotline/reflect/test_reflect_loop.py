"""Reflective generation on the tiny executor with scripted critics: accepting everything reproduces open-loop
generation exactly; an always-rejecting critic ends within every budget limit and the trail reports the limits
hit; regeneration keeps the best-scoring candidate (its latents are the forked batch's) and its cache slot; the
memory of critiques reaches later spans; the trail validates against the `reflections` contract."""

from __future__ import annotations

import hashlib
import json

import pyarrow as pa
import pytest
import torch

from data_contracts import validate
from data_contracts.registry import get_kind
from plotline.executor.config import ExecutorConfig
from plotline.executor.executor import build_executor
from plotline.executor.prompts import span_starts
from plotline.policy.spans import smoothed
from plotline.reflect.config import ReflectConfig
from plotline.reflect.critic import Critic
from plotline.reflect.loop import ReflectiveGenerator, VideoSpec
from plotline.reflect.open_loop import OpenLoopGenerator
from plotline.reflect.revise import Revision
from plotline.reflect.segments import generate_span
from plotline.rewards.config import RewardsConfig
from plotline.rewards.judges import create_backend, programmatic
from plotline.rewards.judges.scorer import JudgeScorer
from plotline.video import VideoConfig

torch.set_num_threads(1)
VIDEO = VideoConfig(target_latent_frames=9, latent_frames_per_step=3, frames_per_chunk=3, switch_frames=[3])
STEPS = ["a red square moves right", "the square turns blue", "the square grows"]
KEYS = (
    "step_score",
    "subject_score",
    "scene_score",
    "action_score",
    "object_appearance_reasonability_score",
    "final_score",
)


@pytest.fixture(scope="module")
def ex():
    return build_executor(ExecutorConfig(backbone="tiny", latent_height=4, latent_width=4), VIDEO, device="cpu")


@pytest.fixture
def step_judge():
    """Install a scripted programmatic step judge for one test (the previous one is restored after)."""
    before = programmatic._JUDGES.get("step")
    calls = []

    def install(score_of):
        def judge(req):
            calls.append(req)
            value = float(score_of(req))
            return json.dumps({k: value for k in KEYS[1:]})

        programmatic.register_programmatic_judge("step", judge)
        return calls

    yield install
    if before is None:
        programmatic.unregister_programmatic_judge("step")
    else:
        programmatic.register_programmatic_judge("step", before)


def critic(num_frames: int = 2) -> Critic:
    rc = RewardsConfig(judge_backend="programmatic")
    return Critic(JudgeScorer(create_backend(rc), rc), "critic-model", num_frames, 32)


def spec() -> VideoSpec:
    return VideoSpec(
        "vid",
        "ins",
        "a red square moves right, then turns blue, then grows",
        list(STEPS),
        smoothed(" "),
        ("eval", "x"),
        VIDEO.target_latent_frames,
        VIDEO.latent_frames_per_step,
    )


class EchoReviser:
    """Revises the remaining steps by appending ' (revised i)' (records what it was asked)."""

    name = "echo"

    def __init__(self):
        self.requests = []

    def revise(self, request, n=1):
        self.requests.append(request)
        return [
            Revision(
                request.steps[: request.span] + [s + f" (revised {i})" for s in request.steps[request.span :]], "ok"
            )
            for i in range(n)
        ]


def check_contract(rows):
    table = pa.Table.from_pylist(rows, schema=get_kind("reflections").schema)
    report = validate("reflections", table)
    assert report.success, report.failures


def test_accepting_critic_reproduces_open_loop(ex, step_judge):
    calls = step_judge(lambda req: 10.0)
    noise = ex.noise(3)
    closed = ReflectiveGenerator(ex, critic(), ReflectConfig(threshold=0.0)).generate(spec(), noise)
    opened = OpenLoopGenerator(ex).generate(spec(), noise)
    assert torch.equal(closed.latents, opened.latents)
    assert closed.cost == {"critic_calls": 3, "regenerations": 0, "replans": 0, "chunk_generations": 3}
    assert len(calls) == 3 and [r.meta["step"] for r in calls] == STEPS
    assert calls[1].meta["previous_step"] == STEPS[0] and calls[1].meta["span"] == 1
    assert "instruction: a red square" in calls[1].user  # `instruction` context (the default)
    check_contract(closed.trail)
    check_contract(opened.trail)


def test_always_rejecting_critic_ends_within_the_budget_and_reports_it(ex, step_judge):
    calls = step_judge(lambda req: 0.0)
    cfg = ReflectConfig(
        threshold=0.5,
        candidates=3,
        remedies=["regenerate", "replan", "regenerate"],
        max_regenerations=1,
        max_replans=1,
        max_critic_calls=6,
        memory_size=1,
    )
    reviser = EchoReviser()
    out = ReflectiveGenerator(ex, critic(), cfg, reviser).generate(spec(), ex.noise(0))
    assert out.latents.shape[2] == VIDEO.target_latent_frames and out.frames.shape[0] > 0  # the video is finished
    assert out.cost["critic_calls"] == len(calls) == 6 <= cfg.max_critic_calls
    assert out.cost["regenerations"] == 1 and out.cost["replans"] == 1
    # span 0: 1 + 3 regenerated + 2 replanned candidates (capped by the critic calls left); spans 1, 2: one each
    assert out.cost["chunk_generations"] == 8
    assert out.budget_hits == ["max_regenerations", "max_critic_calls"]
    rows = out.trail
    decisions = [(r["span"], r["decision"]) for r in rows if r["event"] == "decision"]
    assert decisions == [(0, "regenerate"), (0, "replan"), (0, "accept"), (1, "accept"), (2, "accept")]
    last_span0 = [r for r in rows if r["event"] == "decision" and r["span"] == 0][-1]
    assert "regenerate: budget: max_regenerations=1 reached" in last_span0["reason"]
    assert last_span0["budget"] == "max_regenerations"
    unjudged = [r for r in rows if r["event"] == "decision" and r["span"] > 0]
    assert all(r["reason"].startswith("not judged: budget: max_critic_calls") for r in unjudged)
    final = rows[-1]
    assert final["event"] == "final" and final["budget"] == "max_regenerations,max_critic_calls"
    assert "budget limits hit" in final["reason"] and final["critic_calls"] == 6
    # the planner was asked with the critique and the steps shown so far; each revised plan got a candidate
    assert len(reviser.requests) == 1 and reviser.requests[0].span == 0 and "span 1" in reviser.requests[0].critique
    assert sum(r["event"] == "revision" for r in rows) == 2
    check_contract(rows)

    none = ReflectiveGenerator(ex, critic(), cfg.model_copy(update={"max_critic_calls": 0})).generate(
        spec(), ex.noise(0)
    )
    assert none.cost == {"critic_calls": 0, "regenerations": 0, "replans": 0, "chunk_generations": 3}
    assert none.budget_hits == ["max_critic_calls"]


def _hash_score(req) -> float:
    return int(hashlib.sha256(b"".join(req.images)).hexdigest()[:6], 16) % 1000 / 100.0


def test_regeneration_keeps_the_best_candidate_and_its_cache(ex, step_judge):
    calls = step_judge(_hash_score)
    cfg = ReflectConfig(threshold=1.0, candidates=3, remedies=["regenerate"], max_regenerations=1, memory_size=4)
    noise = ex.noise(5)
    out = ReflectiveGenerator(ex, critic(), cfg).generate(spec(), noise)
    rows = out.trail
    span0 = [r for r in rows if r["span"] == 0 and r["event"] == "critique"]
    assert [r["candidate"] for r in span0] == [0, 1, 2, 3]
    choice = next(r for r in rows if r["event"] == "choice" and r["span"] == 0)
    best = max(span0, key=lambda r: (r["score"], -r["candidate"]))
    assert choice["candidate"] == best["candidate"] and choice["score"] == best["score"]
    assert best["score"] == max(r["score"] for r in span0) and best["candidate"] != 0  # a regenerated one won

    # the kept latents are the chosen candidate's, as generated in its forked batch
    s = spec()
    starts = span_starts(s.num_frames, s.frames_per_step)
    contexts = ex.encode(s.conditioning(s.steps))
    keys = [(s.noise_key, "reflect", 0, 1, i) for i in range(3)]
    batch = generate_span(ex, ex.generator.new_cache(), None, contexts, starts, (0, 3), noise, keys, s.num_frames)
    assert torch.equal(out.latents[:, :, :3], batch.latents[best["candidate"] - 1 : best["candidate"]])
    # ... and span 1 continues from that candidate's cache slot (its first candidate uses the open-loop noise)
    latents, cache = batch.take(best["candidate"] - 1)
    nxt = generate_span(ex, cache, latents, contexts, starts, (3, 6), noise, [s.noise_key], s.num_frames)
    assert torch.equal(out.latents[:, :, 3:6], nxt.latents)
    assert not torch.equal(out.latents, OpenLoopGenerator(ex).generate(s, noise).latents)

    # the memory of critiques reaches later spans: the critic of span 2 sees the notes of spans 1 and 2
    memory = {r["span"]: r["memory"] for r in rows if r["event"] == "critique"}
    assert memory[0] == [] and len(memory[1]) == 1 and len(memory[2]) == 2 and memory[2][0].startswith("span 1 (")
    assert "Notes from earlier segments" in calls[-1].user
    check_contract(rows)


def test_config_and_condition_flag():
    import typer

    from plotline.cli.eval import parse_condition
    from plotline.config import ConfigError, load_config

    assert parse_condition("closed=planner_smooth+reflect@step=3").reflect is True
    assert parse_condition("open=planner_smooth@base").reflect is False
    with pytest.raises(typer.BadParameter, match=r"\+reflect"):
        parse_condition("x=planner_smooth+fast")
    with pytest.raises(ConfigError, match="unknown entries"):
        load_config(overrides=["reflect.remedies=[regenerate, pray]"])
    cfg = load_config(overrides=["reflect.remedies=[regenerate, regenerate, replan]", "reflect.max_critic_calls=0"])
    assert cfg.reflect.remedies == ["regenerate", "regenerate", "replan"] and cfg.reflect.max_critic_calls == 0


def test_world_critic_in_instruction_context_rejects_a_span_that_follows_a_wrong_plan():
    from plotline.world import render_from_steps
    from plotline.world.config import WorldConfig
    from plotline.world.judges.step import judge_step

    cfg = WorldConfig()
    video = render_from_steps(["a red square moves to the right", "a red square turns blue"], cfg)
    span = video[: len(video) // 2]  # shows its caption, "moves to the right"
    step = "a red square moves to the right"

    def final(*instruction):
        return json.loads(judge_step(step, span, None, cfg, *instruction))["final_score"]

    assert final() == 10.0  # the step-following judge alone is satisfied
    assert final("A red square moves to the right, then turns blue.", 0) == 10.0
    assert final("A red square grows, then turns blue.", 0) == 0.0  # the instruction wanted `grow` first
    assert final("A red square grows, then turns blue.", 2) == 0.0  # past its events the span should stay
    assert final("a cat sleeps", 0) == 10.0  # no event of the world named: nothing to check against
