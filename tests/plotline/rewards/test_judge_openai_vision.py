"""The `openai` judge backend against a real vision-language server: `transformers serve` running a tiny
Qwen3-VL (random weights, plotline.tiny.vl) on loopback.

Temporal- and step-following requests are built by the scoring stage's own `video_requests` and carry their
frames as base64 PNG data URLs. The server must really take the images in: its reported prompt tokens equal
what the model's processor makes of the same messages (one `<|image_pad|>` per merged 16x16-pixel patch plus
the vision start/end tokens per frame), so they grow with the number and the size of the frames, and greedy
replies change when only the pixels change. The random model's replies are noise: each must come back parsed
as ok / repaired, or unscored with a reason, never a silent 0, with its latency recorded.
"""

from __future__ import annotations

import io

import httpx
import numpy as np

from plotline.rewards.config import RewardsConfig
from plotline.rewards.frames import whole_video_indices
from plotline.rewards.judges import JudgeRequest, create_backend
from plotline.rewards.judges.scorer import JudgeScorer
from plotline.rewards.scoring import outcome_row, video_requests

INSTRUCTION = "a red square moves right, then turns blue"
PREVIOUS_STEP = "A red square slides to the right."
STEP = "The square turns blue."
FRAME_TOKENS = {64: 16 + 2, 128: 64 + 2}
"""Prompt tokens one square frame adds at each side length: (side / 16)² image pads + vision start/end."""


def _video(n: int = 16, side: int = 128) -> list[np.ndarray]:
    """A square moving left to right on grey, turning from red to blue halfway."""
    frames = []
    for i in range(n):
        frame = np.full((side, side, 3), 96, np.uint8)
        x = int(i * (side - side // 4) / (n - 1))
        frame[side // 3 : side // 3 + side // 4, x : x + side // 4] = (220, 30, 30) if i < n // 2 else (30, 30, 220)
        frames.append(frame)
    return frames


def _config(url: str, model_dir: str, image_size: int = 64) -> RewardsConfig:
    return RewardsConfig.model_validate(
        {
            "judge_backend": "openai",
            "openai": {"base_url": url, "max_retries": 0, "timeout_s": 60.0, "max_concurrency": 2},
            "models": {"text": model_dir, "vision": model_dir, "max_tokens": 24, "temperature": 0.0},
            "frames": {"image_size": image_size},
        }
    )


def _requests(config: RewardsConfig, video: list[np.ndarray], n_whole: int, n_window: int):
    """(temporal request on `n_whole` frames over the whole video, step request on its last `n_window`)."""
    whole = [video[i] for i in whole_video_indices(len(video), n_whole)]
    return video_requests(INSTRUCTION, STEP, PREVIOUS_STEP, whole, video[-n_window:], config)


def _served_prompt_tokens(backend, request: JudgeRequest) -> int:
    """`usage.prompt_tokens` the server reports for exactly the payload the backend sends for `request`."""
    resp = httpx.post(
        f"{backend.base_url}/chat/completions", json=backend._payload(request), timeout=60.0, trust_env=False
    )
    assert resp.status_code == 200, resp.text[:300]
    return int(resp.json()["usage"]["prompt_tokens"])


def _local_prompt_ids(processor, request: JudgeRequest) -> list[int]:
    """The prompt the model's own processor builds, in-process, from the request's text and decoded PNGs."""
    from PIL import Image

    content = [{"type": "text", "text": request.user}] + [
        {"type": "image", "image": Image.open(io.BytesIO(png)).convert("RGB")} for png in request.images
    ]
    messages = [
        {"role": "system", "content": [{"type": "text", "text": request.system}]},
        {"role": "user", "content": content},
    ]
    out = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
    ids = out["input_ids"]
    return list(ids[0] if ids and isinstance(ids[0], list) else ids)


def test_temporal_and_step_judges_with_frames_through_real_vl_server(tiny_vl_server, tiny_vl_dir):
    config = _config(tiny_vl_server, tiny_vl_dir)
    temporal, step = _requests(config, _video(), 8, 4)
    assert (len(temporal.images), len(step.images)) == (8, 4)
    outcomes = JudgeScorer(create_backend(config), config).score([temporal, step])
    for out in outcomes:
        assert out.response.ok, out.response.error  # the VL server answered a request with frames
        assert out.response.attempts == 1 and not out.response.cached
        assert isinstance(out.response.raw, str) and out.response.latency_s > 0
        res = out.result
        assert res.status in ("ok", "repaired", "unscored")
        if res.status == "unscored":  # a random model writes noise: unscored with a reason, never a 0
            assert res.score is None and isinstance(res.reason, str) and res.reason.strip()
        else:
            assert res.score is not None and 0.0 <= res.score <= 1.0
        row = outcome_row("s", out.request.kind, "i", "p", "r", out)
        assert row["status"] == res.status and row["score"] == res.score and row["reason"] == res.reason
        assert row["n_frames"] == len(out.request.images) and row["latency_s"] > 0 and row["raw"] == out.response.raw


def test_server_turns_every_frame_into_vision_tokens(tiny_vl_server, tiny_vl_dir):
    from plotline.tiny.vl import IMAGE_PAD, load_tiny_vl_processor

    processor = load_tiny_vl_processor(tiny_vl_dir)
    pad_id = processor.tokenizer.convert_tokens_to_ids(IMAGE_PAD)
    video = _video()
    small = _config(tiny_vl_server, tiny_vl_dir, image_size=64)
    large = _config(tiny_vl_server, tiny_vl_dir, image_size=128)
    backend = create_backend(small)
    temporal_8, step_4 = _requests(small, video, 8, 4)
    temporal_2, step_1 = _requests(small, video, 2, 1)
    _, step_4_large = _requests(large, video, 8, 4)

    served = {}
    for name, req in [
        ("temporal_8", temporal_8),
        ("temporal_2", temporal_2),
        ("step_4", step_4),
        ("step_1", step_1),
        ("step_4_large", step_4_large),
    ]:
        served[name] = _served_prompt_tokens(backend, req)
        local = _local_prompt_ids(processor, req)
        assert served[name] == len(local), name  # the server expanded the images exactly as the processor does
        side = 128 if name.endswith("large") else 64
        assert local.count(pad_id) == len(req.images) * (FRAME_TOKENS[side] - 2), name

    # more frames, or larger frames, make a longer prompt (the text differs only in the frame count)
    assert served["temporal_8"] - served["temporal_2"] >= 6 * FRAME_TOKENS[64]
    assert served["step_4"] - served["step_1"] >= 3 * FRAME_TOKENS[64]
    # same text, same frames at twice the side: exactly the extra image pads
    assert served["step_4_large"] - served["step_4"] == 4 * (FRAME_TOKENS[128] - FRAME_TOKENS[64])


def test_greedy_replies_depend_on_the_pixels(tiny_vl_server, tiny_vl_dir):
    """The frames reach the vision tower: with greedy decoding the same request gets the same reply, and the
    same text with other pixels (colour-inverted frames, same sizes and token count) gets another one."""
    config = _config(tiny_vl_server, tiny_vl_dir)
    video = _video()
    _, step = _requests(config, video, 8, 4)
    _, inverted = _requests(config, [255 - f for f in video], 8, 4)
    assert (step.system, step.user) == (inverted.system, inverted.user) and step.images != inverted.images
    backend = create_backend(config)
    first, again, other = backend.complete([step, step, inverted])
    assert first.ok and again.ok and other.ok, (first.error, again.error, other.error)
    assert first.raw == again.raw
    assert first.raw != other.raw


def test_text_only_server_ignores_frames(tiny_server, tiny_qwen_dir):
    """Contrast: the text-only tiny Qwen3 server drops image parts, so there the prompt does not grow."""
    config = _config(tiny_server, tiny_qwen_dir)
    backend = create_backend(config)
    _, step = _requests(config, _video(), 8, 3)
    text_only = JudgeRequest("step", tiny_qwen_dir, step.system, step.user)
    assert _served_prompt_tokens(backend, step) == _served_prompt_tokens(backend, text_only)
