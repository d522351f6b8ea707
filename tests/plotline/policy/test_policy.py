"""plotline.policy: the one planner loader, span conditioning with the one joiner, checkpoint pins recorded as
stage inputs, and the layering (reflect is a leaf that imports neither eval nor policy)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from plotline.config import load_config
from plotline.config import with_sections as extend
from plotline.eval.checkpoints import checkpoint_key
from plotline.executor.prompts import PlanTooShort
from plotline.policy.spans import condition_plans, smoothed, unsmoothed
from plotline.store import RunStore, StorageConfig
from plotline.store.manifest import Manifest
from plotline.tiny.planner import cached_tiny_planner, shape_instructions, torch_threads
from stages.base import InputSpec, StageContext, StageSpec, registry, resolve_inputs, run_stage

REPO = Path(__file__).resolve().parents[3]


def _imports(folder: str) -> set[str]:
    names = set()
    for path in (REPO / "plotline" / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
    return names


def _under(names: set[str], *packages: str) -> set[str]:
    return {n for n in names if any(n == p or n.startswith(p + ".") for p in packages)}


def test_reflect_is_a_leaf_and_policy_sits_below_eval():
    assert not _under(_imports("reflect"), "plotline.eval", "plotline.policy", "stages", "flows", "plotline.cli")
    assert not _under(_imports("policy"), "plotline.eval", "stages", "flows", "plotline.cli", "plotline.store")
    assert _under(_imports("eval"), "plotline.policy")  # eval plans and renders through the policy
    assert not _under(_imports("eval"), "plotline.planner.model", "plotline.planner.backends")


def test_span_conditioning_with_the_one_joiner():
    assert smoothed(" then ")(("a", "b", "c")) == ["a then b", "b then c", "c"]
    assert unsmoothed(("a", "b")) == ["a", "b"]
    plans = [
        {"plan_id": "p0", "steps": ["a", "b"], "smoothed_steps": ["A", "B"]},  # already smoothed: kept
        {"plan_id": "p1", "steps": ["a", "b", "c"], "smoothed_steps": None},  # filled from its steps
        {"plan_id": "p2", "steps": ["a"], "smoothed_steps": []},
    ]  # too short: left as is
    out = condition_plans(plans, " / ", 2)
    assert out[0] is plans[0] and out[2] is plans[2]
    assert out[1]["smoothed_steps"] == ["a / b", "b"] and plans[1]["smoothed_steps"] is None
    assert "prompt_joiner" not in load_config().executor.model_dump()  # one joiner: planner.smooth_joiner


def test_rollout_refuses_an_unconditioned_plan():
    from types import SimpleNamespace

    from plotline.executor.rollout_job import conditioning_prompts

    ex = SimpleNamespace(video=load_config().video)
    J = ex.video.num_steps
    plan = {"plan_id": "p9", "steps": [f"s{j}" for j in range(J)], "smoothed_steps": []}
    with pytest.raises(PlanTooShort, match="p9 carries 0 smoothed"):
        conditioning_prompts(plan, ex)
    conditioned = condition_plans([plan], " ", J)[0]
    assert conditioning_prompts(conditioned, ex) == smoothed(" ")(plan["steps"])


def test_the_one_loader_samples_what_the_plan_stage_sampled(tmp_path):
    from plotline.planner.sampling import Instruction, sample_plans
    from plotline.policy.planners import open_planner

    base, cold = cached_tiny_planner()
    data = tmp_path / "instructions.jsonl"
    data.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in shape_instructions(2)))
    cfg = load_config(
        overrides=[
            f"planner.base_model={base}",
            f"planner.cold_start_adapter={cold}",
            "planner.num_plans=2",
            "planner.max_new_tokens=24",
            "data.source=file",
            f"data.path={data}",
            "data.instructions_per_step=2",
        ]
    )
    cfg.storage = StorageConfig(root=str(tmp_path / "runs"))
    run = str(tmp_path / "runs" / "r")
    with torch_threads(1):
        run_stage("instructions", cfg, run, 0, show_progress=False)
        out = run_stage("plan", cfg, run, 0, show_progress=False)
        rows = out.artifact.read_table("plans.parquet").to_pylist()
        ctx = StageContext(cfg, "r", 0, "plan", {}, None, None)
        planner = open_planner(cfg.planner, cold, lora_seed=ctx.seed("lora-init"))
        ids = list(dict.fromkeys(r["instruction_id"] for r in rows))
        prompts = {r["instruction_id"]: r["prompt"] for r in rows}
        records = sample_plans(
            planner.backend,
            planner.tokenizer,
            [Instruction(i, prompts[i], "train") for i in ids],
            cfg.planner,
            cfg.video.num_steps,
            ctx.seed("sample"),
            planner.context_length,
        )
    assert planner.adapter_version == out.manifest.summary["adapter_version"]
    assert [(r.plan_id, r.completion_token_ids, r.steps, r.smoothed_steps) for r in records] == [
        (r["plan_id"], r["completion_token_ids"], r["steps"], r["smoothed_steps"]) for r in rows
    ]


def _commit(store: RunStore, stage: str, step: int):
    version = store.next_version(stage, step)
    writer = store.open_writer(stage, step, version, "attempt-test", {})
    writer.write_bytes("adapter/adapter_config.json", b"{}")
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
            input_digest=f"d{stage}{step}{version}",
            attempt="attempt-test",
        ),
    )


def test_pinned_references_are_recorded_as_stage_inputs(tmp_path):
    from stages.pins import condition_inputs

    store = RunStore(str(tmp_path / "runs" / "r"))
    p1 = _commit(store, "update_planner", 1)
    cfg = load_config()
    cfg = extend(
        cfg,
        eval={
            "conditions": [
                {"name": "then", "mode": "planner", "checkpoint": "latest"},
                {"name": "base", "mode": "planner"},
            ]
        },
    )
    spec = registry()["evaluate"]
    assert spec.pins is condition_inputs
    found, refs = resolve_inputs(spec, store, 0, config=cfg)
    cond = next(c for c in cfg.eval.conditions if c.name == "then")
    key = checkpoint_key(cond, "planner")
    assert found[key].uri == p1.uri and found[checkpoint_key(cond, "executor")] is None
    assert [(r.key, r.manifest_id) for r in refs if r.key.startswith("checkpoint:")] == [(key, p1.manifest.manifest_id)]
    # `latest` moves on: the pin (and with it the input digest) follows the new artifact
    p2 = _commit(store, "update_planner", 2)
    _, refs2 = resolve_inputs(spec, store, 0, config=cfg)
    assert [r.manifest_id for r in refs2 if r.key == key] == [p2.manifest.manifest_id]
    # a stage without pins resolves only its declared inputs
    plain = StageSpec(
        "x", "", (InputSpec("planner_adapter", stage="update_planner", optional=True),), (), (), run=lambda ctx: None
    )
    assert [r.key for r in resolve_inputs(plain, store, 2, config=cfg)[1]] == ["planner_adapter"]


def test_policy_reference_from_pinned_inputs(tmp_path):
    from plotline.policy.reference import policy_from_inputs

    store = RunStore(str(tmp_path / "runs" / "r"))
    boot_writer = store.open_writer("bootstrap", 0, 1, "attempt-b", {}, "checkpoints")
    boot_writer.write_bytes("planner/config.json", b"{}")
    boot_writer.write_bytes("executor/dit.safetensors", b"x")
    boot = store.commit(
        boot_writer,
        Manifest(
            run_id=store.run_id,
            stage="bootstrap",
            step=0,
            version=1,
            area="checkpoints",
            code_version="t",
            config_hash="h",
            config_sections=[],
            input_digest="b",
            attempt="attempt-b",
        ),
    )
    p1 = _commit(store, "update_planner", 1)
    cfg = load_config(overrides=["planner.cold_start_adapter=/cold", "planner.base_model=/configured"])
    bare = policy_from_inputs(cfg.planner, cfg.executor, {})
    assert (bare.planner.base_model, bare.planner_adapter, bare.executor_adapter) == ("/configured", None, None)
    assert (
        policy_from_inputs(cfg.planner, cfg.executor, {"planner_adapter": None}, cold_start=True).planner_adapter
        == "/cold"
    )
    ref = policy_from_inputs(cfg.planner, cfg.executor, {"bootstrap": boot, "planner_adapter": p1}, cold_start=True)
    assert ref.planner.base_model == boot.local_dir("planner")
    assert ref.executor.checkpoint == boot.local_path("executor/dit.safetensors")
    assert ref.planner_adapter == p1.local_dir("adapter") and Path(ref.planner_adapter, "adapter_config.json").is_file()
    assert cfg.planner.base_model == "/configured"  # the sections are copied, not changed
