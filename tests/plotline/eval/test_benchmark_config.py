"""Benchmark subsets and geometry (paper protocol), prompt lists through the importer, span prompts per mode,
checkpoint references resolved from committed update artifacts only, and the config sections."""

from __future__ import annotations

import json

import pytest

from plotline.config import load_config
from plotline.config import with_sections as extend
from plotline.data.importer import ImportRejected
from plotline.eval.benchmark import BenchmarkError, BenchmarkPrompt, Geometry, load_benchmark, subset_geometry
from plotline.eval.checkpoints import CheckpointError, checkpoint_key, parse_reference, resolve_checkpoint
from plotline.eval.conditions import PlannedPrompt, fit_steps, span_prompts
from plotline.eval.config import EvalCondition, EvalConfig, EvalSubset, paper_subsets
from plotline.eval.runner import subset_rows
from plotline.store import RunStore
from plotline.store.manifest import Manifest
from plotline.video import VideoConfig
from stages.pins import pin_reference, pinned_condition

PUBLIC = (
    "prompt,category\n"
    '"A chef slices a tomato, then arranges the slices on a plate.",person\n'
    '"A glass tips over, falls to the floor and shatters.",object\n'
    '"A dancer spins, leaps and lands softly.",action\n'
)


def test_paper_protocol_geometry_and_public_prompt_lists(tmp_path):
    simple, hard = tmp_path / "simple.csv", tmp_path / "hard.csv"
    simple.write_text(PUBLIC)
    hard.write_text(PUBLIC.replace("A chef", "First, a chef"))
    cfg = EvalConfig(subsets=paper_subsets(str(simple), str(hard)))
    video = VideoConfig()
    assert subset_geometry(cfg.subsets[0], video) == Geometry(3, 12, 36)
    assert subset_geometry(cfg.subsets[1], video) == Geometry(5, 12, 60)
    prompts = load_benchmark(cfg, video, subset_rows(load_config(), None))
    assert [p.subset for p in prompts] == ["simple"] * 3 + ["hard"] * 3
    assert prompts[0].category == "person" and "tomato, then" in prompts[0].prompt
    limited = EvalConfig(subsets=[cfg.subsets[0].model_copy(update={"categories": ["object", "action"], "limit": 1})])
    assert [p.category for p in load_benchmark(limited, video, subset_rows(load_config(), None))] == ["object"]


def test_malformed_prompt_list_names_lines_and_bad_geometry_is_refused(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text('prompt,category\n"ok prompt",person\n"",object\n"two","fields","too many"\n')
    cfg = EvalConfig(subsets=[EvalSubset(name="s", source="file", path=str(bad))])
    with pytest.raises(ImportRejected) as exc:
        load_benchmark(cfg, VideoConfig(), subset_rows(load_config(), None))
    assert "line 3: empty prompt" in str(exc.value) and "line 4: has 3 field(s)" in str(exc.value)
    with pytest.raises(BenchmarkError, match="multiples of the chunk size"):
        subset_geometry(EvalSubset(name="x", num_steps=2, latent_frames_per_step=4), VideoConfig())
    with pytest.raises(ValueError, match="needs `path`"):
        EvalSubset(name="x", source="file")


def test_world_subset_and_instructions_fallback():
    cfg = load_config(overrides=["world.num_eval_instructions=3"])
    ecfg = EvalConfig()  # default: the eval split of the run's instructions; none committed + world source
    prompts = load_benchmark(ecfg, cfg.video, subset_rows(cfg, None))
    assert len(prompts) == 3 and all(p.steps for p in prompts) and prompts[0].prompt_id.startswith("world-eval")
    file_cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"source": "file"})})
    with pytest.raises(BenchmarkError, match="none are committed"):
        load_benchmark(ecfg, cfg.video, subset_rows(file_cfg, None))


def test_span_prompts_per_mode():
    p = BenchmarkPrompt(
        "p",
        "a red square moves right, then turns blue",
        "2-step",
        "s",
        ("a red square moves right", "a red square turns blue"),
        Geometry(3, 3, 9),
    )
    plan = PlannedPrompt(["s1", "s2", "s3"], "ok", "v1")
    assert span_prompts("global", p, None, " ") == [p.prompt] * 3
    assert span_prompts("planner", p, plan, " ") == ["s1", "s2", "s3"]
    assert span_prompts("planner_smooth", p, plan, " | ") == ["s1 | s2", "s2 | s3", "s3"]
    assert span_prompts("steps", p, None, " ") == [
        "a red square moves right",
        "a red square turns blue",
        "a red square turns blue",
    ]
    assert fit_steps(["a", "b"], 4, "g") == ["a", "a", "b", "b"]
    assert fit_steps(["a", "b", "c", "d", "e"], 2, "g") == ["a, then b", "c, then d, then e"]
    assert fit_steps([], 2, "g") == ["g", "g"]
    with pytest.raises(ValueError, match="needs a plan"):
        span_prompts("planner", p, None, " ")


def _commit(store: RunStore, stage: str, step: int, files: dict[str, bytes]):
    version = store.next_version(stage, step)
    writer = store.open_writer(stage, step, version, "attempt-test", {})
    for name, data in files.items():
        writer.write_bytes(name, data)
    return store.commit(
        writer,
        Manifest(
            run_id=store.run_id,
            stage=stage,
            step=step,
            version=version,
            code_version="test",
            config_hash="h",
            config_sections=[],
            input_digest=f"d{version}",
            attempt="attempt-test",
        ),
    )


ADAPTER = {"adapter/adapter_config.json": b"{}", "adapter/adapter_model.safetensors": b"x"}


def _resolve(condition, store, step, cold):
    """What the evaluate stage does: its `current` inputs and the condition's pins, then the library."""
    inputs = {
        "planner_adapter": store.latest("update_planner", step),
        "executor_adapter": store.latest("update_executor", step),
        **pinned_condition(condition, store, step),
    }
    return resolve_checkpoint(condition, inputs, cold)


def test_checkpoint_references(tmp_path):
    store = RunStore(str(tmp_path / "runs" / "r"))
    other = RunStore(str(tmp_path / "runs" / "other"))
    p1 = _commit(store, "update_planner", 1, ADAPTER)
    e1 = _commit(store, "update_executor", 1, {**ADAPTER, "adapter_ema/adapter_config.json": b"{}"})
    e3 = _commit(store, "update_executor", 3, ADAPTER)
    o2 = _commit(other, "update_planner", 2, ADAPTER)
    # an uncommitted attempt at step 5 is invisible
    store.open_writer("update_planner", 5, 0, "attempt-dead", {}).write_bytes("adapter/x", b"junk")

    base = _resolve(EvalCondition(name="b"), store, 0, "/cold")
    assert (base.planner_adapter, base.executor_adapter, base.manifests) == ("/cold", None, {})
    s1 = _resolve(EvalCondition(name="s", checkpoint="step=1"), store, 0, "/cold")
    assert s1.planner_source == p1.uri and s1.executor_source == e1.uri
    assert s1.manifests == {"planner": p1.manifest.manifest_id, "executor": e1.manifest.manifest_id}
    assert json.loads(open(f"{s1.planner_adapter}/adapter_config.json").read()) == {}
    latest = _resolve(EvalCondition(name="l", checkpoint="latest"), store, 0, "/cold")
    assert latest.executor_source == e3.uri and latest.planner_adapter == "/cold"  # no planner update at step 3
    cur = _resolve(EvalCondition(name="c", checkpoint="current"), store, 3, None)
    assert cur.executor_source == e3.uri and cur.planner_source == "none"
    ema = _resolve(EvalCondition(name="e", checkpoint="step=1", executor_weights="adapter_ema"), store, 0, None)
    assert ema.executor_adapter.endswith("adapter_ema")
    with pytest.raises(CheckpointError, match="has no adapter_ema/"):
        _resolve(EvalCondition(name="e", checkpoint="step=3", executor_weights="adapter_ema"), store, 0, None)
    far = _resolve(EvalCondition(name="o", checkpoint=f"{other.uri}@step=2"), store, 0, None)
    assert far.planner_source == o2.uri
    with pytest.raises(CheckpointError, match="no committed update output"):
        _resolve(EvalCondition(name="x", checkpoint="step=5"), store, 0, None)
    override = _resolve(
        EvalCondition(name="v", checkpoint="step=1", planner_adapter="none", executor_adapter=e3.uri), store, 0, "/cold"
    )
    assert override.planner_adapter is None and override.executor_source == e3.uri
    with pytest.raises(CheckpointError):
        parse_reference("yesterday")

    pinned = pin_reference(EvalCondition(name="l", checkpoint="latest"), store, 0)
    assert (pinned.checkpoint, pinned.planner_adapter, pinned.executor_adapter) == ("latest", "base", e3.uri)
    _commit(store, "update_executor", 4, ADAPTER)  # `latest` moves on; the pinned condition does not
    again = _resolve(pinned, store, 0, "/cold")
    assert again.executor_source == e3.uri and again.planner_adapter == "/cold"


def test_library_reads_only_pinned_checkpoints(tmp_path):
    store = RunStore(str(tmp_path / "runs" / "r"))
    p1 = _commit(store, "update_planner", 1, ADAPTER)
    cond = EvalCondition(name="l", checkpoint="latest")
    pins = pinned_condition(cond, store, 0)
    assert pins == {
        checkpoint_key(cond, "planner"): pins[checkpoint_key(cond, "planner")],
        checkpoint_key(cond, "executor"): None,
    }
    assert pins[checkpoint_key(cond, "planner")].uri == p1.uri
    _commit(store, "update_planner", 2, ADAPTER)  # `latest` moves on; what was pinned is what is read
    assert resolve_checkpoint(cond, pins, None).planner_source == p1.uri
    with pytest.raises(CheckpointError, match="was not pinned"):
        resolve_checkpoint(cond, {}, None)
    assert pinned_condition(EvalCondition(name="b"), store, 0) == {}
    assert pinned_condition(EvalCondition(name="c", checkpoint="current"), store, 0) == {}
    assert (
        resolve_checkpoint(EvalCondition(name="c", checkpoint="current"), {"planner_adapter": p1}, None).planner_source
        == p1.uri
    )


def test_sections_load_from_overrides_and_presets(tmp_path):
    preset = tmp_path / "eval.yaml"
    preset.write_text("eval:\n  conditions:\n    - {name: a, mode: global}\n    - {name: b, mode: steps}\n")
    cfg = load_config([preset], ["eval.batch_size=2", "synth.num_instructions=7", "seed=3"])
    assert [c.name for c in cfg.eval.conditions] == ["a", "b"] and cfg.eval.batch_size == 2
    assert cfg.synth.num_instructions == 7 and cfg.seed == 3
    assert extend(load_config(), eval={"baseline": None}).eval.conditions[0].name == "base"
    with pytest.raises(ValueError, match="duplicate names"):
        EvalConfig(conditions=[EvalCondition(name="a"), EvalCondition(name="a")])
