"""The aesthetic score of the benchmark: PickScore (unit value (cos + 1) / 2, native value as configured) on a
tiny CLIP, and the shapes world's image statistics otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from plotline.eval.config import EvalConfig
from plotline.eval.judging import aesthetic_scorer
from plotline.rewards.config import PickScoreConfig, RewardsConfig
from plotline.rewards.pickscore import PickScorer


@pytest.fixture(scope="module")
def tiny_clip_dir(tmp_path_factory):
    import torch
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel

    from plotline.tiny.lm import build_tiny_tokenizer

    path = tmp_path_factory.mktemp("tiny_clip")
    tok = build_tiny_tokenizer(chat_template=None)
    config = CLIPConfig(
        text_config={
            "vocab_size": len(tok),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "max_position_embeddings": 16,
            "projection_dim": 16,
            "pad_token_id": tok.pad_token_id,
            "eos_token_id": tok.eos_token_id,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
            "projection_dim": 16,
        },
        projection_dim=16,
    )
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(path)
    tok.save_pretrained(path)
    CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(path)
    return str(path)


def test_pickscore_unit_and_native_values(tiny_clip_dir):
    rng = np.random.default_rng(0)
    videos = [[rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(2)] for _ in range(2)]
    rewards = RewardsConfig(pickscore=PickScoreConfig(model_path=tiny_clip_dir, normalisation="logit"))
    name, fn = aesthetic_scorer(EvalConfig(), rewards)  # auto: a model path is set
    unit, native = fn(["a red square", "a blue circle"], videos)
    assert name == "pickscore" and np.all((unit >= 0) & (unit <= 1))
    logit = PickScorer(rewards.pickscore).score(["a red square", "a blue circle"], videos)
    np.testing.assert_allclose(native, logit, rtol=1e-4, atol=1e-4)


def test_image_stats_fallback_and_none():
    name, fn = aesthetic_scorer(EvalConfig(), RewardsConfig())
    frames = [np.zeros((32, 32, 3), np.uint8)]
    frames[0][8:16, 8:16] = (255, 0, 0)
    unit, native = fn(["x"], [frames])
    assert name == "image_stats" and 0 < unit[0] <= 1 and native[0] == unit[0]
    assert aesthetic_scorer(EvalConfig(aesthetic="none"), RewardsConfig()) is None
    with pytest.raises(ValueError, match="model_path"):
        aesthetic_scorer(EvalConfig(aesthetic="pickscore"), RewardsConfig())
