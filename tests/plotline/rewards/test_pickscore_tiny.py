"""PickScore on a tiny CLIP built from CLIPConfig (no torchvision, no downloads)."""

import numpy as np
import pytest

from plotline.rewards.config import PickScoreConfig
from plotline.rewards.pickscore import PickScorer, load_pickscore


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


def test_scores_mean_pool_frames_and_truncate_text(tiny_clip_dir):
    scorer = PickScorer(PickScoreConfig(model_path=tiny_clip_dir, normalisation="cosine"))
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (40, 48, 3), dtype=np.uint8) for _ in range(3)]
    long_prompt = "a red square moves right, then turns blue, then grows " * 20  # far past 16 positions
    scores = scorer.score(["a red square", long_prompt], [frames, frames[:1]])
    assert scores.shape == (2,) and np.all((scores >= 0) & (scores <= 1))
    # mean pooling: the score of 3 frames equals the cosine with the normalised mean embedding, order-free
    again = scorer.score(["a red square", long_prompt], [frames[::-1], frames[:1]])
    assert again[0] == pytest.approx(scores[0], abs=1e-5)


def test_normalisations(tiny_clip_dir):
    frames = [np.zeros((32, 32, 3), np.uint8)]
    cos = PickScorer(PickScoreConfig(model_path=tiny_clip_dir, normalisation="cosine")).score(["x"], [frames])[0]
    logit = PickScorer(PickScoreConfig(model_path=tiny_clip_dir, normalisation="logit")).score(["x"], [frames])[0]
    scaled = PickScorer(PickScoreConfig(model_path=tiny_clip_dir, normalisation="scaled", scale=26.0)).score(
        ["x"], [frames]
    )[0]
    assert scaled == pytest.approx(logit / 26.0)
    assert cos == pytest.approx((logit / np.exp(np.log(1 / 0.07)) + 1) / 2, abs=1e-4)


def test_disabled_without_model_path():
    assert load_pickscore(PickScoreConfig()) is None
