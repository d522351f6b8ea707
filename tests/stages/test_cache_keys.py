"""A stage's cache key is derived from its one declaration (`StageSpec.config_sections`): it moves with every
result-affecting setting inside the declared sections, with nothing outside them, and never with a placement
setting (sharding, device lists, process counts, concurrency, timeouts)."""

from __future__ import annotations

import pytest

from plotline._base import in_cache_key
from plotline.config import ConfigError, PlotlineConfig, config_hash, load_config
from plotline.stage_names import STAGE_NAMES
from stages.base import StageSpec, get_spec, registry, stage_config_key

RESULT_OVERRIDES = [
    "seed=7",
    "data.instructions_per_step=3",
    "video.switch_frames=[6]",
    "world.foreground_threshold=40",
    "world.max_steps=2",
    "planner.temperature=0.5",
    "planner.enable_thinking=true",
    "executor.shift=3.0",
    "executor.denoising_steps=[1000, 800, 600, 400]",
    "rewards.weights.exec.step=0.7",
    "rewards.min_frame_fraction=0.3",
    "rl.executor.learning_rate=0.002",
    "rl.planner.learning_rate=0.002",
    "rl.advantage.clip=2.0",
    "synth.temperature=0.5",
    "eval.batch_size=2",
    "reflect.threshold=0.5",
    "reflect.critic_reward.weight=0.25",
    "generate.limit=3",
]
"""One result-affecting change in every section (and in sub-sections some stages declare on their own)."""

PLACEMENT_OVERRIDES = [
    "executor.num_shards=4",
    "executor.shard_devices=[0, 1]",
    "planner.num_shards=3",
    "planner.shard_devices=[2]",
    "planner.openai.max_concurrency=2",
    "planner.openai.timeout_s=5",
    "rewards.openai.max_concurrency=1",
    "rewards.openai.timeout_s=9",
    "rl.planner.num_processes=2",
    "rl.executor.num_processes=2",
    "synth.openai.timeout_s=3",
    "orchestration.stage_retries=4",
    "orchestration.concurrent_updates=on",
    "executor.encoder_workers=0",
    "storage.s3.read_timeout_s=7",
]
"""Settings that only decide where or how parallel a stage runs."""


def _keys(cfg: PlotlineConfig) -> dict[str, str]:
    return {name: stage_config_key(get_spec(name), cfg) for name in STAGE_NAMES}


def _covers(spec: StageSpec, override: str) -> bool:
    """Whether `override`'s key lies inside one of the stage's declared sections (the declaration is a prefix)."""
    path = override.split("=", 1)[0].split(".")
    return any(path[: len(s.split("."))] == s.split(".") for s in spec.config_sections)


def test_every_builtin_stage_is_registered_by_its_own_module():
    specs = registry()  # other tests may register plugin stages on top
    for name in STAGE_NAMES:
        assert specs[name].run.__module__ == f"stages.{name}", name


@pytest.mark.parametrize("override", RESULT_OVERRIDES)
def test_a_stage_key_moves_exactly_with_its_declared_sections(override):
    base, changed = PlotlineConfig(), load_config([], [override])
    assert changed != base  # the override is a real change
    before, after = _keys(base), _keys(changed)
    moved = {name for name in STAGE_NAMES if before[name] != after[name]}
    declared = {name for name in STAGE_NAMES if _covers(get_spec(name), override)}
    assert moved == declared, override


def test_every_section_some_stage_reads_is_exercised():
    top = {o.split("=")[0].split(".")[0] for o in RESULT_OVERRIDES}
    read = {s.split(".")[0] for n in STAGE_NAMES for s in get_spec(n).config_sections}
    assert read <= top


@pytest.mark.parametrize("override", PLACEMENT_OVERRIDES)
def test_placement_settings_change_no_stage_key(override):
    changed = load_config([], [override])
    assert changed != PlotlineConfig()
    assert _keys(changed) == _keys(PlotlineConfig()), override


def test_sharding_a_shapes_rollout_keeps_its_key_and_a_schedule_change_does_not():
    preset = "configs/shapes.yaml"
    spec = get_spec("rollout")
    base = stage_config_key(spec, load_config([preset]))
    assert (
        stage_config_key(spec, load_config([preset], ["executor.num_shards=2", "executor.shard_devices=[0]"])) == base
    )
    assert stage_config_key(spec, load_config([preset], ["executor.shift=2.5"])) != base


def test_placement_fields_are_marked_in_the_models():
    from plotline.executor.config import ExecutorConfig
    from plotline.planner.config import PlannerConfig
    from plotline.rl.flow_grpo_config import FlowGRPOConfig

    assert not in_cache_key(ExecutorConfig.model_fields["num_shards"])
    assert not in_cache_key(PlannerConfig.model_fields["shard_devices"])
    assert not in_cache_key(FlowGRPOConfig.model_fields["num_processes"])
    assert in_cache_key(FlowGRPOConfig.model_fields["micro_batch_size"])  # accumulation order changes the floats
    assert in_cache_key(ExecutorConfig.model_fields["device"])  # cpu and cuda kernels give different numbers


def test_config_hash_matches_a_hand_built_digest_of_the_result_settings():
    import hashlib
    import json

    cfg = load_config([], ["executor.num_shards=3"])
    section = cfg.executor.model_dump(mode="json")
    del section["num_shards"], section["shard_devices"], section["encoder_workers"]
    text = json.dumps({"executor": section, "seed": cfg.seed}, sort_keys=True, separators=(",", ":"))
    assert config_hash(cfg, ["seed", "executor"]) == hashlib.sha256(text.encode()).hexdigest()


def test_declaring_a_placement_field_or_an_unknown_section_is_an_error():
    with pytest.raises(ConfigError, match=r"'executor\.num_shards' is not a result-affecting setting"):
        config_hash(PlotlineConfig(), ["executor.num_shards"])
    with pytest.raises(ConfigError, match=r"'executor\.nope'"):
        config_hash(PlotlineConfig(), ["executor.nope"])
