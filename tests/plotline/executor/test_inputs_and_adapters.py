"""Prompts/spans, fork points, adapters for another backbone, video writing."""

import dataclasses

import pytest
import torch

from plotline.executor.arch import DiTArch
from plotline.executor.backbones import get_backbone
from plotline.executor.lora import AdapterMismatch, attach_lora, check_adapter, save_adapter
from plotline.executor.model import CausalWanDiT
from plotline.executor.prompts import PlanTooShort, check_plan_steps, smooth_steps, span_starts
from plotline.executor.rollout import ForkPointError, fork_rollout
from plotline.executor.video_io import encode_mp4, sample_indices


def test_smoothing_and_spans():
    assert smooth_steps(["a", "b", "c"], " then ") == ["a then b", "b then c", "c"]
    assert span_starts(21, 12) == [0, 12]
    assert span_starts(21, 12, 6) == [0, 6]
    assert span_starts(12, 3, 6) == [0, 3, 6, 9]
    with pytest.raises(ValueError, match="outside the video"):
        span_starts(12, 3, 12)
    with pytest.raises(PlanTooShort, match="plan p7 has 1 step"):
        check_plan_steps("p7", ["only one"], 21, 12)


def test_sampled_frames_reach_the_last_frame():
    assert sample_indices(81, 8)[0] == 0 and sample_indices(81, 8)[-1] == 80


@pytest.mark.parametrize("k", [0, 12, 15, 4])
def test_fork_point_outside_video(tiny_executor, k):
    ex = tiny_executor
    with pytest.raises(ForkPointError):
        fork_rollout(ex.generator, ex.encode(["a", "b", "c", "d"]), [0, 3, 6, 9], 12, k, ex.noise(0), "p", [0])


def test_adapter_for_another_backbone_is_refused(tmp_path):
    tiny = get_backbone("tiny")
    other = dataclasses.replace(
        tiny,
        name="other",
        arch=DiTArch(
            in_dim=4, out_dim=4, dim=24, ffn_dim=48, freq_dim=16, text_dim=32, text_len=16, num_heads=2, num_layers=1
        ),
    )
    peft = attach_lora(CausalWanDiT(other.arch), 2, 2, ["q", "v"])
    save_adapter(peft, tmp_path / "ad", other, "v1")
    assert (tmp_path / "ad" / "adapter_model.safetensors").is_file()
    with pytest.raises(AdapterMismatch, match="built for backbone 'other'"):
        check_adapter(tmp_path / "ad", tiny)
    assert check_adapter(tmp_path / "ad", other)["version"] == "v1"


def test_mp4_bytes():
    frames = (torch.rand(5, 32, 32, 3) * 255).to(torch.uint8).numpy()
    data = encode_mp4(frames, fps=8)
    assert data[4:8] == b"ftyp" and len(data) > 100
