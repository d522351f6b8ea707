"""How work is split: rollout jobs by instruction, plan instructions at batch boundaries, update windows, devices."""

from __future__ import annotations

import pytest

from plotline.executor.sharding import RolloutJob, rollout_jobs, shard_by_instruction
from plotline.parallel import launch
from plotline.planner.sampling import Instruction
from plotline.planner.sharding import instructions_per_block, shard_instructions
from plotline.rl.flow_grpo_job import update_windows


def _jobs(counts: dict[str, int], interleave: bool = False) -> list[RolloutJob]:
    plans = [{"plan_id": f"{i}/p{m}", "instruction_id": i} for i, n in counts.items() for m in range(n)]
    if interleave:
        plans = plans[::2] + plans[1::2]
    return rollout_jobs(plans, [3, 6], 2, lambda *k: sum(map(ord, "".join(map(str, k)))))


def test_rollout_shards_keep_instructions_whole_and_balanced():
    jobs = _jobs({"a": 2, "b": 2, "c": 2, "d": 2, "e": 2})
    shards = shard_by_instruction(jobs, 2)
    assert [[j.plan["plan_id"] for j in s] for s in shards] == [
        ["a/p0", "a/p1", "b/p0", "b/p1", "c/p0", "c/p1"],
        ["d/p0", "d/p1", "e/p0", "e/p1"],
    ]
    assert sorted(j.index for s in shards for j in s) == list(range(10))
    assert len(shard_by_instruction(jobs, 8)) == 5  # never more shards than instructions
    assert shard_by_instruction(jobs, 1) == [jobs]
    # plans of an instruction scattered through the table still land in one shard, in table order
    mixed = shard_by_instruction(_jobs({"a": 2, "b": 2, "c": 2}, interleave=True), 3)
    for shard in mixed:
        assert len({j.plan["instruction_id"] for j in shard}) == 1
        assert [j.index for j in shard] == sorted(j.index for j in shard)


def test_rollout_jobs_carry_seeds_and_ids():
    jobs = _jobs({"a": 2})
    assert [j.ids for j in jobs] == [["a/p0/c0", "a/p0/c1"], ["a/p1/c0", "a/p1/c1"]]
    assert all(j.fork_frame in (3, 6) for j in jobs) and jobs[0].seed != jobs[1].seed
    assert RolloutJob(**jobs[0].to_json()) == jobs[0]


def test_plan_shards_cut_at_generate_batch_boundaries():
    ins = [Instruction(f"i{k}", f"prompt {k}") for k in range(10)]
    assert (
        instructions_per_block(4, 16) == 4 and instructions_per_block(2, 2) == 1 and instructions_per_block(3, 4) == 4
    )
    shards = shard_instructions(ins, 2, 4, 16)  # blocks of 4 instructions: [0-3] [4-7] [8-9]
    assert [[i.instruction_id for i in s] for s in shards] == [
        ["i0", "i1", "i2", "i3"],
        ["i4", "i5", "i6", "i7", "i8", "i9"],
    ]
    for s in shards[:-1]:
        assert (len(s) * 4) % 16 == 0  # every shard but the last fills whole batches
    assert len(shard_instructions(ins, 5, 4, 16)) == 3
    assert [i for s in shard_instructions(ins, 3, 2, 2) for i in s] == ins


def test_update_windows_span_epochs_like_gradient_accumulation():
    assert update_windows(["a", "b", "c"], 2, 2) == [[(0, "a"), (1, "b")], [(2, "c"), (3, "a")], [(4, "b"), (5, "c")]]
    assert update_windows(["a", "b", "c"], 1, 4) == [[(0, "a"), (1, "b"), (2, "c")]]
    assert update_windows([], 3, 2) == []


def test_shard_devices(monkeypatch):
    assert launch.shard_devices(3, "cpu") == [None, None, None]
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert launch.shard_devices(3, "auto") == ["0", "1", "0"]
    assert launch.shard_devices(2, "cuda", pinned=[3]) == ["3", "3"]
    assert launch.shard_devices(2, "cpu", pinned=[3]) == [None, None]
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(RuntimeError, match="no CUDA device"):
        launch.shard_devices(2, "cuda")


def test_sharded_plan_sampling_stops_its_shards_at_the_timeout(tmp_path):
    from plotline.planner.config import PlannerConfig
    from plotline.planner.sharding import sample_sharded
    from plotline.tiny.planner import cached_tiny_planner

    base, cold = cached_tiny_planner()
    cfg = PlannerConfig(base_model=str(base), device="cpu", num_plans=2, batch_size=2, num_shards=2)
    instructions = [Instruction(f"i{k}", "a red square moves right, then grows", "train") for k in range(2)]
    with pytest.raises(launch.WorkerError, match=r"^plan: shards still running after 0 s; stopped"):
        sample_sharded(cfg, str(cold), instructions, 2, 0, 0, tmp_path, timeout_s=0.2)  # loading alone takes longer
    assert not list((tmp_path / "results").glob("*.json"))  # stopped before any shard finished
