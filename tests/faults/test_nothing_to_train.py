"""Zero trainable plans: the planner update refuses (naming why) instead of committing `trained_plans=0`."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from plotline.planner.records import PlanRecord
from plotline.planner.trainable import NothingToTrain, require_trainable_plans
from plotline.store import RunStore
from stages.base import run_stage
from tests.faults.conftest import assert_run_valid


def _commit_advantages(run: str, edit) -> None:
    """Commit a new advantage version whose planner rows were changed by `edit(row)` (a hand-made artifact)."""
    store = RunStore(run)
    good = store.latest("advantage", 0)
    table = good.read_table("advantages.parquet")
    rows = table.to_pylist()
    for r in rows:
        if r["role"] == "planner":
            edit(r)
    buf = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), buf)
    version = store.next_version("advantage", 0)
    writer = store.open_writer("advantage", 0, version, "attempt-doctored", {})
    writer.write_bytes("advantages.parquet", buf.getvalue().to_pybytes(), kind="advantages", rows=len(rows))
    store.commit(
        writer,
        good.manifest.model_copy(
            update={"version": version, "manifest_id": "", "attempt": writer.attempt, "validation": []}
        ),
    )


def _drop(row):
    row["keep"], row["advantage"] = False, None


def test_planner_update_with_nothing_to_train_is_refused(run_copy):
    cfg, run = run_copy
    _commit_advantages(run, _drop)  # every planner sample dropped (as a NaN weight once did)
    with pytest.raises(
        NothingToTrain,
        match=r"no plan to train on \(\d+ plan\(s\): 0 failed to sample, 0 without a "
        r"masked-in completion token, \d+ without a kept advantage",
    ):
        run_stage("update_planner", cfg, run, 0, show_progress=False)
    assert RunStore(run).versions("update_planner", 0) == []
    assert_run_valid(run)


def _record(plan_id: str, *, error: str | None = None, mask: list[int] | None = None) -> PlanRecord:
    return PlanRecord(
        plan_id=plan_id,
        instruction_id="i",
        plan_index=0,
        prompt="p",
        num_steps=1,
        steps=["s"],
        smoothed_steps=["s"],
        format_reward=1.0,
        parse_status="ok",
        raw_text="s",
        prompt_token_ids=[0],
        completion_token_ids=[1, 2],
        completion_mask=mask if mask is not None else [1, 1],
        old_logprobs=None,
        adapter_version="v",
        backend="hf",
        seed=0,
        error=error,
    )


def test_refusal_counts_each_reason():
    records = [_record("a", error="timeout"), _record("b", mask=[0, 0]), _record("c"), _record("d")]
    with pytest.raises(
        NothingToTrain,
        match=r"4 plan\(s\): 1 failed to sample, 1 without a masked-in completion "
        r"token, 2 without a kept advantage .*; 0 kept planner advantage",
    ):
        require_trainable_plans(records, {}, [])
    require_trainable_plans(records, {"c": 0.0, "d": 0.0}, [records[2], records[3]])  # kept zero advantages train
