"""Typed configuration: presets, overrides, rejection of unknown keys and wrong types, stable hashes."""

from pathlib import Path

import pytest
from pydantic import ValidationError

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


# --- finite numbers and cross-section checks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "override", ["rl.planner.learning_rate=.inf", "rl.executor.clip=.nan", "rewards.weights.exec.step=-.inf"]
)
def test_non_finite_numbers_are_refused(override):
    with pytest.raises(ConfigError, match="finite number"):
        load_config([], [override])


def test_decoded_frame_counts_per_decoder():
    from plotline.config_checks import decoded_frames

    # Wan VAE: 1 + 4·(K − 1) frames (21 latent → 81); identity and world decoders: one frame per latent frame
    wan = PlotlineConfig.model_validate({"executor": {"backbone": "self_forcing"}})
    assert decoded_frames(wan) == 81
    assert decoded_frames(PlotlineConfig()) == 21
    assert decoded_frames(load_config(["configs/shapes.yaml"])) == 9


def test_frame_counts_must_fit_the_video():
    ok = {
        "executor": {"backbone": "self_forcing", "sampled_frames": 81},
        "rewards": {"frames": {"temporal_num_frames": 81}},
    }
    PlotlineConfig.model_validate(ok)
    with pytest.raises(ValidationError, match=r"executor.sampled_frames=82 is more than the video has .*81 frames"):
        PlotlineConfig.model_validate({"executor": {"backbone": "self_forcing", "sampled_frames": 82}})
    with pytest.raises(ValidationError, match=r"temporal_num_frames=22 is more than the video has"):
        PlotlineConfig.model_validate({"rewards": {"frames": {"temporal_num_frames": 22}}})


def test_train_transitions_must_fit_the_schedule():
    PlotlineConfig.model_validate({"rl": {"executor": {"train_transitions": 4}}})
    with pytest.raises(ValidationError, match=r"train_transitions=3 is more than the 2 denoising transitions"):
        PlotlineConfig.model_validate({"executor": {"denoising_steps": [1000, 500]}})


def test_group_sizes_need_two_members_unless_the_role_is_not_trained():
    with pytest.raises(ValidationError, match="planner.num_plans=1"):
        PlotlineConfig.model_validate({"planner": {"num_plans": 1}})
    with pytest.raises(ValidationError, match="executor.num_continuations=1"):
        PlotlineConfig.model_validate({"executor": {"num_continuations": 1}})
    off = {
        "orchestration": {"step_stages": ["plan", "rollout", "score", "advantage"]},
        "planner": {"num_plans": 1},
        "executor": {"num_continuations": 1},
    }
    assert PlotlineConfig.model_validate(off).planner.num_plans == 1  # neither role is trained: stated explicitly


def test_run_name_is_one_folder_name():
    with pytest.raises(ConfigError, match="run_name"):
        load_config([], ["run_name=../../x"])
    with pytest.raises(ConfigError, match="run_name"):
        load_config([], ["run_name=a/b"])
