"""Cheap plugin stages for the orchestration tests (imported as tests.flows.plugin_stages in every process:
the test itself, `plotline stage` children and Prefect workers, through PLOTLINE_STAGE_MODULES).

Behaviour is steered through environment variables so child processes follow the test:
- PLOTLINE_TEST_CALLS: file to which every stage run appends `stage@step`;
- PLOTLINE_TEST_BLOCK: `stage@step=/path/prefix`: that run writes `<prefix>.started` (with its pid) and waits
  until `<prefix>.release` exists (at most 120 s), so a test can kill or signal the flow mid-stage;
- PLOTLINE_TEST_FLAKY: a file path; `t_flaky` fails while it does not exist (and creates it);
- PLOTLINE_TEST_MEET: a folder; `t_meet_a` and `t_meet_b` each write `<stage>.started` there and wait (at most
  60 s) for the other's: both complete only when they run at the same time.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from stages.base import InputSpec, StageContext, StageSpec, register

MODULE = "tests.flows.plugin_stages"


def _note(ctx: StageContext) -> None:
    path = os.environ.get("PLOTLINE_TEST_CALLS")
    if path:
        with open(path, "a") as fh:
            fh.write(f"{ctx.stage}@{ctx.step}\n")
    block = os.environ.get("PLOTLINE_TEST_BLOCK", "")
    if "=" in block:
        where, prefix = block.split("=", 1)
        if where == f"{ctx.stage}@{ctx.step}":
            Path(f"{prefix}.started").write_text(str(os.getpid()))
            deadline = time.monotonic() + 120
            while not Path(f"{prefix}.release").exists() and time.monotonic() < deadline:
                time.sleep(0.05)


def _seed(ctx: StageContext) -> None:
    _note(ctx)
    ctx.output.write_bytes("seed.json", json.dumps({"step": ctx.step, "seed": ctx.seed("t")}).encode())
    ctx.output.summary["seed"] = ctx.seed("t")


def _count(ctx: StageContext) -> None:
    ctx.output.write_bytes("partial.json", b"{}")  # a file of the attempt exists before the stage may block
    _note(ctx)
    seed = json.loads(ctx.inputs["seed"].read_bytes("seed.json"))
    prev = ctx.inputs["previous"]
    count = 0 if prev is None else json.loads(prev.read_bytes("count.json"))["count"] + 1
    ctx.output.write_bytes("count.json", json.dumps({"count": count, "seed_step": seed["step"]}).encode())
    ctx.output.summary["count"] = count


def _metrics(ctx: StageContext) -> None:
    _note(ctx)
    prev = ctx.inputs["previous"]
    base = 0.0 if prev is None else prev.manifest.summary["reward"]
    items = list(ctx.progress(range(4), description="scoring"))
    rows = [
        {
            "role": role,
            "iteration": i,
            "metric": "reward",
            "value": base + 0.1 * (i + 1) + (0.5 if role == "executor" else 0),
        }
        for role in ("planner", "executor")
        for i in items
    ]
    rows.append({"role": "planner", "iteration": 0, "metric": "loss", "value": 1.0 / (ctx.step + 1)})
    ctx.output.write_table("metrics.parquet", "update_metrics", rows)
    ctx.output.summary["reward"] = base + 0.4


def _flaky(ctx: StageContext) -> None:
    _note(ctx)
    marker = Path(os.environ["PLOTLINE_TEST_FLAKY"])
    if not marker.exists():  # the first attempt fails after writing part of its output
        ctx.output.write_bytes("partial.json", b"{}")
        marker.write_text("failed once")
        raise RuntimeError("transient failure (test)")
    ctx.output.write_bytes("ok.json", b"{}")


MEET_PEERS = {"t_meet_a": "t_meet_b", "t_meet_b": "t_meet_a"}


def _meet(ctx: StageContext) -> None:
    _note(ctx)
    folder = Path(os.environ["PLOTLINE_TEST_MEET"])
    (folder / f"{ctx.stage}.started").write_text(str(os.getpid()))
    peer = folder / f"{MEET_PEERS[ctx.stage]}.started"
    deadline = time.monotonic() + 60
    while not peer.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{ctx.stage}: {peer.name} never appeared; the two stages did not run at once")
        time.sleep(0.05)
    ctx.output.write_bytes("met.json", json.dumps({"stage": ctx.stage, "peer_pid": peer.read_text()}).encode())


for _name in MEET_PEERS:
    register(
        StageSpec(
            name=_name,
            summary="test: completes only while its peer stage runs too",
            inputs=(InputSpec("seed", stage="t_seed"),),
            outputs=(),
            config_sections=("seed",),
            run=_meet,
        )
    )
register(
    StageSpec(
        name="t_flaky",
        summary="test: fails on its first attempt",
        inputs=(),
        outputs=(),
        config_sections=("seed",),
        run=_flaky,
    )
)
register(
    StageSpec(
        name="t_seed", summary="test: writes a seed file", inputs=(), outputs=(), config_sections=("seed",), run=_seed
    )
)
register(
    StageSpec(
        name="t_count",
        summary="test: counts steps from its previous output",
        inputs=(InputSpec("seed", stage="t_seed"), InputSpec("previous", stage="t_count", step_offset=-1)),
        outputs=(),
        config_sections=("seed",),
        run=_count,
    )
)
register(
    StageSpec(
        name="t_metrics",
        summary="test: reward-like metrics per role (a contract-checked table)",
        inputs=(InputSpec("seed", stage="t_seed"), InputSpec("previous", stage="t_metrics", step_offset=-1)),
        outputs=("update_metrics",),
        config_sections=("seed",),
        run=_metrics,
    )
)
