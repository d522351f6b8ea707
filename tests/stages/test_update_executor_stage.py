"""update_executor stage: trains on rollouts + advantages, writes a peft adapter the next rollout records."""
from __future__ import annotations

import pytest
import torch

from plotline.rl.flow_grpo_update import AdapterVersionMismatch
from stages.base import InputSpec, StageSpec, register, run_stage
from test_rollout_stage import make_plans, tiny_config

torch.set_num_threads(1)


def _fake_advantages(ctx):
    art = ctx.inputs["rollouts"]
    rows = art.read_table("rollouts.parquet").to_pylist()
    out = []
    for r in rows:
        g = art.read_tensors(r["group_path"])
        bright = g["states"][:, -1, :3].mean((1, 2, 3, 4))  # reward: brightness of the transition chunk
        z = (bright - bright.mean()) / (bright.std() + 1e-6)
        out.append({"sample_id": r["rollout_id"], "role": "executor", "group_id": r["plan_id"],
                    "instruction_id": r["instruction_id"], "plan_id": r["plan_id"], "reward": float(bright[r["group_index"]]),
                    "advantage": float(z[r["group_index"]]), "keep": r["continuation_index"] != 3, "status": "scored",
                    "zero_variance": False, "self_paced_weights": []})
    ctx.output.write_table("advantages.parquet", "advantages", out)


register(StageSpec(name="test_exec_advantages", summary="fake executor advantages", outputs=("advantages",),
                   inputs=(InputSpec("rollouts", stage="rollout"),), config_sections=("seed",), run=_fake_advantages))


def test_update_then_next_rollout_records_adapter(tmp_path):
    cfg = tiny_config(tmp_path, "rl.executor.lora_rank=4", "rl.executor.lora_alpha=4", "rl.executor.learning_rate=1e-3")
    run = str(tmp_path / "runs" / "u1")
    plans = make_plans(cfg, run)
    roll = run_stage("rollout", cfg, run, 0, show_progress=False, pinned_inputs={"plans": plans.artifact.uri})
    adv = run_stage("test_exec_advantages", cfg, run, 0, show_progress=False,
                    pinned_inputs={"rollouts": roll.artifact.uri})
    upd = run_stage("update_executor", cfg, run, 0, show_progress=False,
                    pinned_inputs={"rollouts": roll.artifact.uri, "advantages": adv.artifact.uri})
    files = upd.artifact.files
    assert "adapter/adapter_model.safetensors" in files and "adapter/plotline_adapter.json" in files
    assert "adapter_ema/adapter_model.safetensors" in files
    metrics = upd.artifact.read_table("metrics.parquet").to_pylist()
    ratio = [m["value"] for m in metrics if m["metric"] == "ratio_mean"]
    assert len(ratio) == 2 and ratio[0] == 1.0  # on-policy: the first update sees ratio exactly 1
    assert abs(ratio[1] - 1.0) < 1e-3  # the second group comes after one optimizer step
    kl = [m["value"] for m in metrics if m["metric"] == "kl"]
    assert kl[0] == 0.0  # fresh adapter (B = 0) equals the reference
    assert upd.manifest.summary["optimizer_steps"] == 2
    version = upd.manifest.summary["adapter_version"]

    plans1 = make_plans(cfg, run, step=1)
    roll1 = run_stage("rollout", cfg, run, 1, show_progress=False, pinned_inputs={"plans": plans1.artifact.uri})
    rows = roll1.artifact.read_table("rollouts.parquet").to_pylist()
    assert {r["executor_adapter_version"] for r in rows} == {version}
    # updating from the new adapter with rollouts made by the base model is refused
    with pytest.raises(AdapterVersionMismatch, match="'base'"):
        run_stage("update_executor", cfg, run, 1, show_progress=False,
                  pinned_inputs={"rollouts": roll.artifact.uri, "advantages": adv.artifact.uri})
    # and with its own rollouts the recomputed log-probs are on-policy again
    adv1 = run_stage("test_exec_advantages", cfg, run, 1, show_progress=False,
                     pinned_inputs={"rollouts": roll1.artifact.uri})
    upd1 = run_stage("update_executor", cfg, run, 1, show_progress=False,
                     pinned_inputs={"rollouts": roll1.artifact.uri, "advantages": adv1.artifact.uri})
    m1 = upd1.artifact.read_table("metrics.parquet").to_pylist()
    first_ratio = [m for m in m1 if m["metric"] == "ratio_mean"][0]["value"]
    assert first_ratio == 1.0
    assert [m for m in m1 if m["metric"] == "kl"][0]["value"] > 0
