"""rollout with 2 CPU shards (split by instruction) writes the same artifact as an unsharded rollout."""

from __future__ import annotations

import time

import pytest
import torch
from dist_fixtures import STEPS, tiny_config

from plotline.executor.prompts import PlanTooShort
from plotline.store import RunStore
from stages.base import StageSpec, register, run_stage

pytestmark = pytest.mark.ranks  # starts torch.distributed CPU ranks: one such test at a time (conftest)

torch.set_num_threads(1)


def _short_plans(ctx):
    """i0 has complete plans, i1's second plan has a single step (its shard fails)."""
    rows = []
    for ins in ("i0", "i1"):
        for m in range(2):
            steps = STEPS[:1] if (ins, m) == ("i1", 1) else STEPS
            rows.append(
                {
                    "plan_id": f"{ins}/p{m}",
                    "instruction_id": ins,
                    "plan_index": m,
                    "split": "train",
                    "prompt": "a dark square brightens",
                    "num_steps": len(steps),
                    "steps": steps,
                    "smoothed_steps": steps,
                    "format_reward": 1.0,
                    "parse_status": "ok",
                    "raw_text": "[]",
                    "prompt_token_ids": [1],
                    "completion_token_ids": [2],
                    "completion_mask": [1],
                    "old_logprobs": [-0.1],
                    "adapter_version": "planner-v0",
                    "backend": "local",
                    "seed": m,
                    "finish_reason": "stop",
                    "error": None,
                }
            )
    ctx.output.write_table("plans.parquet", "plans", rows, params={"M": 2})


register(
    StageSpec(
        name="test_short_plans",
        summary="a plan with too few steps",
        inputs=(),
        outputs=("plans",),
        config_sections=("seed",),
        run=_short_plans,
    )
)


def test_two_cpu_shards_equal_unsharded(tmp_path):
    one_cfg = tiny_config(tmp_path, "executor.device=cpu", "executor.num_continuations=2")
    two_cfg = tiny_config(tmp_path, "executor.device=cpu", "executor.num_continuations=2", "executor.num_shards=2")
    run = str(tmp_path / "runs" / "rs")
    plans = run_stage("test_dist_plans", one_cfg, run, 0, show_progress=False)
    pins = {"plans": plans.artifact.uri}
    t0 = time.perf_counter()
    one = run_stage("rollout", one_cfg, run, 0, show_progress=False, pinned_inputs=pins)
    t1 = time.perf_counter()
    events = []
    # num_shards is a placement field (not in the cache key): without force the store would answer with `one`
    two = run_stage(
        "rollout", two_cfg, run, 0, force=True, show_progress=False, pinned_inputs=pins, progress_hook=events.append
    )
    print(f"unsharded {t1 - t0:.1f} s, 2 CPU shards {time.perf_counter() - t1:.1f} s")
    assert two.status == "committed" and two.manifest.version == one.manifest.version + 1  # the sharded path ran
    final = {e.label: (e.done, e.total) for e in events if "shard" in e.label}
    assert final == {"rollout@0 shard 0 rollout": (2, 2), "rollout@0 shard 1 rollout": (2, 2)}
    a, b = one.artifact, two.artifact
    rows_a, rows_b = a.read_table("rollouts.parquet"), b.read_table("rollouts.parquet")
    assert rows_a.num_rows == 8 and rows_a.equals(rows_b)
    assert [r["plan_id"] for r in rows_b.to_pylist()][::2] == ["i0/p0", "i0/p1", "i1/p0", "i1/p1"]
    assert sorted(a.files) == sorted(b.files)
    for name in a.files:
        if name.endswith(".safetensors"):
            ta, tb = a.read_tensors(name), b.read_tensors(name)
            assert ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta), name
            ma, mb = a.tensor_metadata(name), b.tensor_metadata(name)
            assert (ma["plan_id"], ma["adapter_version"]) == (mb["plan_id"], mb["adapter_version"])
        elif name.endswith(".mp4"):
            assert a.read_bytes(name) == b.read_bytes(name), name
    assert two.manifest.summary["rollouts"] == 8 and two.manifest.summary["backbone"] == "tiny"


def test_a_failing_shard_fails_the_stage_with_its_error(tmp_path):
    cfg = tiny_config(
        tmp_path,
        "executor.device=cpu",
        "executor.num_continuations=2",
        "executor.num_shards=2",
        "executor.decode_videos=false",
    )
    run = str(tmp_path / "runs" / "rf")
    plans = run_stage("test_short_plans", cfg, run, 0, show_progress=False)
    with pytest.raises(PlanTooShort, match="plan i1/p1 has 1 step prompts") as info:
        run_stage("rollout", cfg, run, 0, show_progress=False, pinned_inputs={"plans": plans.artifact.uri})
    assert any("rollout rank 1" in n for n in info.value.__notes__)
    assert RunStore(run, cfg.storage).artifacts("rollout", 0) == []
