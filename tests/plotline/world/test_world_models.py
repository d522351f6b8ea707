"""The world's executor pieces: the state latent and its decoder, the event text encoder, plans and their videos,
and the teacher-forced training example (train/inference consistency)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from plotline.config import load_config
from plotline.world.detect import observe
from plotline.world.executor_training import canonical_states, example, frame_contexts, teacher_forced_loss
from plotline.world.instructions import generate_instructions
from plotline.world.plans import (
    CORRUPTIONS,
    STAY,
    captions,
    noisy_plan,
    padded_events,
    render_spans,
    span_bounds_from_starts,
    template_plan,
)
from plotline.world.render import render_scenario
from plotline.world.state import Geometry
from plotline.world.state_latent import CHANNELS, WorldStateDecoder, decode_states, encode_spans
from plotline.world.text_encoder import WorldTextEncoder, action_effect, feature_dim, tokenize

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def shapes_config():
    return load_config(["configs/shapes.yaml"])


def test_decoded_latents_are_the_rendered_video(shapes_config):
    rng = random.Random(3)
    decoder = WorldStateDecoder()
    frames = differing = 0
    for _ in range(60):
        ex = example(rng, shapes_config.world, shapes_config.video)
        assert ex.latents.shape == (CHANNELS, 9, 1, 1)
        out = (decoder(ex.latents[None])[0].numpy() * 255).round().astype(np.uint8)
        frames += len(out)
        differing += int((out != ex.frames).any(axis=(1, 2, 3)).sum())
    assert differing <= frames // 100  # float rounding may move an edge pixel in a rare frame


def test_world_video_through_the_latent_keeps_its_judged_events(shapes_config):
    from plotline.world import judge_temporal

    world = shapes_config.world
    geometry = Geometry.from_config(world)
    decoder = WorldStateDecoder()
    for ins in [i for i in generate_instructions(world) if i.split == "eval"][:6]:
        states = ins.scenario.states(geometry)
        bounds = span_bounds_from_starts([0, 3, 6][: len(states) - 1], 9)
        video = (decoder(encode_spans(states, bounds, world.hold_fraction)[None])[0].numpy() * 255).astype(np.uint8)
        import json

        reply = json.loads(judge_temporal(ins.prompt, video, None, world))
        assert reply["temporal_order_score"] == 10.0, (ins.prompt, reply["think"]["observed_events"])


def test_decoder_renders_any_latent_as_one_clean_shape():
    decoder = WorldStateDecoder()
    noise = torch.randn(2, CHANNELS, 5, 1, 1, generator=torch.Generator().manual_seed(0))
    frames = (decoder(noise).numpy() * 255).astype(np.uint8)
    for frame in frames.reshape(-1, 32, 32, 3):
        assert observe(frame).clean or not observe(frame).visible
    assert len(decode_states(noise[0, :, :, 0, 0])) == 5


def test_event_text_encoder_reads_events_in_order_with_their_effect():
    toks = tokenize("a red square moves to the right a red square turns blue")
    assert [t[0] for t in toks] == ["move_right", "turn_blue"] and toks[0][1:] == ("square", "red")
    assert tokenize("nothing of this world") == [(None, None, None)]
    assert action_effect("move_left")[0] == pytest.approx(-1.0) and action_effect("grow")[2] == pytest.approx(1.0)
    enc = WorldTextEncoder(feature_dim())
    feats = enc(["a red square moves up", "a red square moves up a red square grows"])
    assert feats.shape == (2, 6, feature_dim())
    assert torch.equal(feats[0, 0], feats[1, 0]) and feats[0, 1].abs().sum() == 0 and feats[1, 1].abs().sum() > 0


def test_template_plan_and_corruptions(shapes_config):
    world = shapes_config.world
    ins = next(i for i in generate_instructions(world) if i.phrasing == "after" and len(i.steps) >= 2)
    plan = template_plan(ins.scenario, 3)
    assert plan[: len(ins.steps)] == list(ins.steps) and all("stays still" in s for s in plan[len(ins.steps) :])
    rng = random.Random(0)
    misread = noisy_plan(ins.scenario, 3, rng, {"misread_after": 1.0}, ins.phrasing)
    assert misread[1] == "misread_after" and misread[0] != plan
    events = padded_events(ins.scenario.events, 3)
    assert CORRUPTIONS["misread_after"](events, rng, "sentence") is None  # only "After X, it Y"
    assert noisy_plan(ins.scenario, 3, rng, {}, ins.phrasing) == (plan, "template")
    assert padded_events(("grow",), 3) == ("grow", STAY, STAY)
    assert captions(ins.scenario.initial, ("grow",))[0].endswith("grows")


def test_render_spans_matches_the_world_renderer(shapes_config):
    world = shapes_config.world
    geometry = Geometry.from_config(world)
    ins = next(i for i in generate_instructions(world) if len(i.steps) == 3)
    states = ins.scenario.states(geometry)
    ours = render_spans(states, span_bounds_from_starts([0, 3, 6], 9), 32, 32, world.hold_fraction)
    assert np.array_equal(ours, render_scenario(ins.scenario, world, num_frames=9))


def test_canonical_placement_keeps_every_state_in_frame(shapes_config):
    world = shapes_config.world
    geometry = Geometry.from_config(world)
    ins = next(i for i in generate_instructions(world) if len(i.steps) == 3)
    states = canonical_states(ins.scenario.initial, list(ins.scenario.events), geometry, known=2)
    if states is not None:
        for s in states:
            assert s.size / 2 <= s.x <= 32 - s.size / 2 and s.size / 2 <= s.y <= 32 - s.size / 2


def test_teacher_forcing_sees_what_the_kv_cache_shows(shapes_config):
    """The training pass (clean history at the context timestep, one block-causal pass) gives the chunk the same
    velocity as generation does through the KV cache built by clean passes."""
    from plotline.executor.denoise_loop import ChunkGenerator, cache_from_latents
    from plotline.executor.model import CausalWanDiT
    from plotline.executor.schedule import model_timestep, warped_sigmas
    from plotline.world.backbone import WORLD_ARCH, WORLD_WINDOW

    torch.manual_seed(0)
    model = CausalWanDiT(WORLD_ARCH).eval()
    enc = WorldTextEncoder(WORLD_ARCH.text_dim)
    ex = example(random.Random(1), shapes_config.world, shapes_config.video)
    lat = ex.latents[None]
    ctx = frame_contexts(enc, ex.prompts, ex.starts, 9)[None]
    noise = torch.randn(1, CHANNELS, 3, 1, 1, generator=torch.Generator().manual_seed(0))
    sigma = 0.75
    x = lat[:, :, :9].clone()
    x[:, :, 6:9] = (1 - sigma) * lat[:, :, 6:9] + sigma * noise
    t = torch.zeros(1, 9)
    t[:, 6:9] = float(model_timestep(sigma))
    with torch.no_grad():
        full = model(x, t, ctx, chunk_frames=3, window=WORLD_WINDOW)[:, :, 6:9]
        gen = ChunkGenerator(model, warped_sigmas([1000, 750, 500, 250], 1.0), WORLD_WINDOW, 3, False)
        contexts = [c[None] for c in enc(ex.prompts)]
        cache = cache_from_latents(gen, lat[:, :, :6], contexts, ex.starts)
        cached = model(x[:, :, 6:9], t[:, 6:9], contexts[2], cache=cache, start_frame=6)
    torch.testing.assert_close(full, cached, atol=2e-4, rtol=1e-3)
    loss = teacher_forced_loss(model, lat, ctx, 2, 3, sigma, WORLD_WINDOW)
    assert torch.isfinite(loss) and loss > 0


def test_planner_warm_start_is_reproducible(tmp_path):
    """Same config and seed, different global RNG state before the build: identical planner weights (the phrase
    tokens' new embedding rows are drawn from a seeded RNG)."""
    from safetensors.torch import load_file

    from plotline.config import load_config
    from plotline.world.planner_training import build_planner

    cfg = load_config(
        ["configs/shapes.yaml"], ["world.bootstrap.planner.steps=4", "world.bootstrap.planner.sft_instructions=20"]
    )
    weights = []
    for k in range(2):
        torch.manual_seed(1000 + k)
        build_planner(tmp_path / f"p{k}", cfg.world, 3, cfg.world.bootstrap.planner, seed=0)
        weights.append(load_file(tmp_path / f"p{k}" / "model.safetensors"))
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
