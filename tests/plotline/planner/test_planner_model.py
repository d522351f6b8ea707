"""Loading the planner: LoRA defaults, cold-start adapter, versioning, and bad inputs with clear errors."""

import pytest

from plotline.planner.config import PlannerConfig
from plotline.planner.errors import AdapterMismatch, ChatTemplateMissing, PlannerInputError
from plotline.planner.model import adapter_version, load_planner, load_tokenizer, save_adapter
from plotline.planner.prompts import planner_messages, render_prompt
from plotline.tiny import build_tiny_qwen3


def test_lora_defaults_cover_attention_and_mlp(tiny_planner_paths):
    cfg = PlannerConfig()
    assert (cfg.lora.rank, cfg.lora.alpha, cfg.temperature, cfg.top_p, cfg.num_plans) == (32, 64.0, 1.0, 0.7, 4)
    planner = load_planner(tiny_planner_paths[0], None, trainable=True, lora=cfg.lora)
    names = [n for n, p in planner.model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names)
    for proj in cfg.lora.target_modules:
        assert any(f"{proj}.lora_A" in n for n in names), proj
    assert planner.adapter_version == "base"


def test_cold_start_adapter_loads_trainable_and_round_trips(tiny_planner_paths, tmp_path):
    base, cold = tiny_planner_paths
    planner = load_planner(base, cold, trainable=True)
    assert planner.adapter_version == adapter_version(cold) != "base"
    assert any(p.requires_grad for p in planner.model.parameters())
    version = save_adapter(planner, tmp_path / "copy")
    assert version == adapter_version(tmp_path / "copy")
    assert (tmp_path / "copy" / "adapter_model.safetensors").is_file()
    frozen = load_planner(base, tmp_path / "copy", trainable=False)
    assert not any(p.requires_grad for p in frozen.model.parameters())


def test_adapter_for_a_different_base_is_rejected(tiny_planner_paths, tmp_path):
    other = build_tiny_qwen3(tmp_path / "other", hidden_size=32, num_heads=2, num_kv_heads=1)
    with pytest.raises(AdapterMismatch) as err:
        load_planner(other, tiny_planner_paths[1])
    msg = str(err.value)
    assert str(tiny_planner_paths[1]) in msg and str(other) in msg


def test_empty_and_too_long_instructions_are_named(tiny_planner_paths):
    tok = load_tokenizer(tiny_planner_paths[0])
    for empty in ("", "   "):
        with pytest.raises(PlannerInputError, match="empty") as err:
            planner_messages(empty, 2)
        assert repr(empty) in str(err.value)
    long = "a red square moves right " * 200
    with pytest.raises(PlannerInputError, match=r"longer than the allowed 100") as err:
        render_prompt(tok, long, 2, enable_thinking=False, max_prompt_tokens=100)
    assert "a red square moves right" in str(err.value)


def test_tokenizer_without_chat_template(tmp_path):
    path = build_tiny_qwen3(tmp_path / "plain", chat_template=None)
    with pytest.raises(ChatTemplateMissing, match=str(path)):
        load_tokenizer(path)
