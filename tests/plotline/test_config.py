"""Typed configuration: presets, overrides, rejection of unknown keys and wrong types, stable hashes."""
from pathlib import Path

import pytest

from plotline.config import ConfigError, PlotlineConfig, config_hash, load_config, parse_override

REPO = Path(__file__).resolve().parents[2]


def test_defaults_validate_and_expose_group_sizes():
    cfg = load_config()
    assert cfg.planner.num_plans == 4 and cfg.executor.num_continuations == 4
    assert cfg.video.num_steps == -(-cfg.video.target_latent_frames // cfg.video.latent_frames_per_step)


def test_set_override_parses_scientific_notation_lists_and_bools():
    cfg = load_config(overrides=["rl.executor.clip=1e-5", "video.switch_frames=[3, 9]", "seed=7"])
    assert cfg.rl.executor.clip == pytest.approx(1e-5)
    assert cfg.video.switch_frames == [3, 9]
    assert cfg.seed == 7
    assert parse_override("a.b=true") == (["a", "b"], True)


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"unknown key 'rl\.executor\.clp'"):
        load_config(overrides=["rl.executor.clp=1e-5"])


def test_wrong_type_is_named_with_the_value():
    with pytest.raises(ConfigError, match=r"(?s)'planner\.num_plans'.*'many'"):
        load_config(overrides=["planner.num_plans=many"])


def test_yaml_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("video: {target_latent_frames: [\n")
    with pytest.raises(ConfigError, match="bad.yaml is not valid YAML"):
        load_config([bad])
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("video:\n  target_latent_frame: 9\n")
    with pytest.raises(ConfigError, match=r"(?s)wrong\.yaml.*unknown key 'video\.target_latent_frame'"):
        load_config([wrong])
    with pytest.raises(ConfigError, match="config file not found"):
        load_config([tmp_path / "missing.yaml"])


def test_presets_merge_in_order(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("seed: 1\nplanner: {num_plans: 2}\n")
    b.write_text("planner: {num_plans: 3}\n")
    cfg = load_config([a, b], ["seed=5"])
    assert (cfg.seed, cfg.planner.num_plans) == (5, 3)


def test_geometry_is_checked():
    with pytest.raises(ConfigError, match="switch_frames entry 30 is outside the video"):
        load_config(overrides=["video.switch_frames=[30]"])


def test_config_hash_is_stable_and_section_specific():
    base = PlotlineConfig()
    assert config_hash(base) == config_hash(PlotlineConfig())
    changed = load_config(overrides=["rl.executor.clip=3e-5"])
    assert config_hash(changed) != config_hash(base)
    assert config_hash(changed, ["planner", "video"]) == config_hash(base, ["planner", "video"])
    assert config_hash(changed, ["rl.executor"]) != config_hash(base, ["rl.executor"])


def test_every_field_is_documented():
    missing = []

    def walk(model, prefix):
        for name, field in model.model_fields.items():
            if not field.description:
                missing.append(prefix + name)
            ann = field.annotation
            if isinstance(ann, type) and hasattr(ann, "model_fields"):
                walk(ann, prefix + name + ".")

    walk(PlotlineConfig, "")
    assert not missing, f"config fields without a docstring: {missing}"


@pytest.mark.parametrize("preset", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_presets_load(preset):
    load_config([preset])
