"""plan (local backend) with 2 CPU shards (split by instruction at batch boundaries) equals an unsharded run."""

from __future__ import annotations

import time

import pytest
from test_plan_stage import planner_config

from plotline.tiny.planner import torch_threads
from stages.base import run_stage

pytestmark = pytest.mark.ranks  # starts torch.distributed CPU ranks: one such test at a time (conftest)


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


def test_two_cpu_shards_equal_unsharded(tmp_path):
    # M = 2 and batch_size = 2: one instruction per generate batch, so each shard gets one instruction
    one_cfg = planner_config(tmp_path, "planner.device=cpu", "planner.batch_size=2")
    two_cfg = planner_config(tmp_path, "planner.device=cpu", "planner.batch_size=2", "planner.num_shards=2")
    run = str(tmp_path / "runs" / "ps")
    run_stage("instructions", one_cfg, run, 0, show_progress=False)
    t0 = time.perf_counter()
    one = run_stage("plan", one_cfg, run, 0, show_progress=False)
    t1 = time.perf_counter()
    events = []
    # num_shards is a placement field (not in the cache key): without force the store would answer with `one`
    two = run_stage("plan", two_cfg, run, 0, force=True, show_progress=False, progress_hook=events.append)
    print(f"unsharded {t1 - t0:.1f} s, 2 CPU shards {time.perf_counter() - t1:.1f} s")
    assert two.status == "committed" and two.manifest.version == one.manifest.version + 1  # the sharded path ran
    final = {e.label: (e.done, e.total) for e in events}
    assert final == {"plan@0 shard 0 plans": (2, 2), "plan@0 shard 1 plans": (2, 2)}  # each shard's progress
    a = one.artifact.read_table("plans.parquet").to_pylist()
    b = two.artifact.read_table("plans.parquet").to_pylist()
    assert len(a) == len(b) == 4 and len({r["instruction_id"] for r in a}) == 2
    worst = 0.0
    for x, y in zip(a, b):
        lx, ly = x.pop("old_logprobs"), y.pop("old_logprobs")
        assert x == y  # same plans, tokens, masks, text, seeds, in the same order
        assert ly == pytest.approx(lx, abs=1e-5)
        worst = max([worst] + [abs(p - q) for p, q in zip(lx, ly)])
    print(f"max |Δ old log-prob|: {worst:.3g}")
    assert one.manifest.summary["adapter_version"] == two.manifest.summary["adapter_version"]
