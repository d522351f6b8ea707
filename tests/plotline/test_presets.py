"""Real-size presets (Self-Forcing, LongLive): what they set, and errors that name the key of a missing path."""

from pathlib import Path

import pytest

from plotline.config import load_config
from plotline.executor.backbones import get_backbone
from plotline.executor.executor import DECODERS, TEXT_ENCODERS, build_executor
from plotline.paths import MissingPathError, require_path
from plotline.planner.model import load_planner_from_config

REPO = Path(__file__).resolve().parents[2]
PRESETS = ["self_forcing", "longlive"]


@pytest.mark.parametrize("name", PRESETS)
def test_preset_is_real_size_bf16_with_tempact_groups(name):
    cfg = load_config([REPO / "configs" / f"{name}.yaml"])
    assert cfg.executor.backbone == name and cfg.executor.dtype == "bfloat16" and cfg.planner.dtype == "bfloat16"
    assert (cfg.planner.num_plans, cfg.executor.num_continuations) == (4, 8)
    assert cfg.video.switch_frames == [6, 12] and cfg.video.target_latent_frames == 21
    assert (cfg.executor.latent_height, cfg.executor.latent_width) == (60, 104)
    assert (cfg.rl.executor.lora_rank, cfg.planner.lora.rank) == (256, 32)
    assert cfg.rl.executor.micro_batch_size and cfg.rl.executor.gradient_checkpointing


@pytest.mark.parametrize("name, key", [("self_forcing", "executor.checkpoint"), ("longlive", "executor.checkpoint")])
def test_placeholder_checkpoint_is_an_error_naming_the_key(name, key):
    cfg = load_config([REPO / "configs" / f"{name}.yaml"])
    with pytest.raises(MissingPathError, match=rf"^{key}: '/path/to/.*' does not exist; set {key}"):
        build_executor(cfg.executor, cfg.video, device="cpu")


def test_missing_lora_checkpoint_text_encoder_vae_and_planner_paths_name_their_keys(tmp_path):
    ckpt = tmp_path / "base.pt"
    ckpt.write_bytes(b"")
    cfg = load_config([REPO / "configs" / "longlive.yaml"], [f"executor.checkpoint={ckpt}"])
    with pytest.raises(MissingPathError, match=r"^executor\.lora_checkpoint: "):
        build_executor(cfg.executor, cfg.video, device="cpu")
    bb = get_backbone("longlive")
    with pytest.raises(MissingPathError, match=r"^executor\.text_encoder_path: .*does not exist"):
        TEXT_ENCODERS[bb.text_encoder](bb, cfg.executor, None)
    with pytest.raises(MissingPathError, match=r"^executor\.vae_path: "):
        DECODERS[bb.vae](bb, cfg.executor, None)
    with pytest.raises(MissingPathError, match=r"^planner\.base_model: '/path/to/Qwen3-1\.7B' does not exist"):
        load_planner_from_config(cfg.planner)


def test_require_path_kinds(tmp_path):
    f = tmp_path / "w.pt"
    f.write_bytes(b"x")
    assert require_path(str(f), "a.b", "a file", "file") == f
    with pytest.raises(MissingPathError, match=r"^a\.b: .* is not a directory; set a\.b to a dir"):
        require_path(str(f), "a.b", "a dir", "dir")
    with pytest.raises(MissingPathError, match=r"^a\.b is not set"):
        require_path(None, "a.b", "a dir")
