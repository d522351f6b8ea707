"""Pure pieces of the orchestration (no Prefect API): audit tables, keys, digests, signals, config resolution."""

from __future__ import annotations

import os
import signal

import pyarrow as pa
import pytest

from flows.audit_tables import (
    artifact_key,
    curve_markdown,
    judge_failure_rows,
    plan_sample_rows,
    step_metrics,
    summary_markdown,
)
from flows.params import StageParams, resolve_config
from flows.resolve import idempotency_key, plan_stage, scan_committed
from flows.signals import StopRequest
from plotline.config import ConfigError
from plotline.store import RunStore
from tests.flows.helpers import plugin_config


def test_artifact_keys_are_valid_prefect_keys():
    assert artifact_key("Shapes_Default.v2", "update_planner", "stats") == "shapes-default-v2-update-planner-stats"
    assert artifact_key("", "") == "plotline"
    assert len(artifact_key("x" * 500)) <= 120


def test_plan_samples_put_failures_first_and_count_parse_status():
    table = pa.table(
        {
            "plan_id": ["p1", "p2", "p3"],
            "instruction_id": ["i"] * 3,
            "prompt": ["a ball rolls"] * 3,
            "parse_status": ["ok", "failed", "padded"],
            "format_reward": [1.0, 0.0, 0.5],
            "steps": [["rolls", "stops"], ["a ball rolls"], ["rolls", ""]],
            "error": [None, "no JSON", None],
        }
    )
    rows = plan_sample_rows(table, 2)
    assert [(r["plan_id"], r["parse_status"]) for r in rows] == [("p2", "failed"), ("p3", "padded")]
    assert rows[0]["error"] == "no JSON" and rows[1]["steps"] == "rolls | "


def test_judge_failures_are_counted_with_reasons():
    # the statuses the parser writes: ok, repaired (usable) and unscored
    table = pa.table(
        {
            "judge": ["plan", "plan", "temporal", "temporal", "temporal", "step"],
            "status": ["ok", "unscored", "repaired", "unscored", "unscored", "ok"],
            "reason": [None, "no JSON object", "clamped final_score", "timeout", "timeout", None],
        }
    )
    rows = {r["judge"]: r for r in judge_failure_rows(table)}
    assert rows["plan"]["unscored"] == 1 and rows["plan"]["scored"] == 1
    assert rows["step"]["unscored"] == 0 and rows["step"]["unscored_share"] == 0 and rows["step"]["top_reasons"] == ""
    assert rows["temporal"]["scored"] == 1 and rows["temporal"]["repaired"] == 1
    assert rows["temporal"]["unscored"] == 2 and rows["temporal"]["top_reasons"] == "timeout ×2"
    assert rows["temporal"]["unscored_share"] == pytest.approx(2 / 3, rel=1e-5)


def test_reward_curve_markdown_orders_reward_columns_first():
    md = curve_markdown(
        "r",
        {
            0: {"update.loss[planner/loss]": 1.0, "advantage.reward[planner]": 0.25},
            1: {"advantage.reward[planner]": 0.5},
        },
    )
    header = next(line for line in md.splitlines() if line.startswith("| step"))
    assert header.index("advantage.reward") < header.index("update.loss")
    assert "| 1 | 0.5 |  |" in md
    assert "Nothing scored yet" in curve_markdown("r", {})


def test_idempotency_key_is_stable_and_distinguishes_inputs():
    a = idempotency_key("s3://b/runs/r", 3, "plan", "d" * 64)
    assert a == idempotency_key("s3://b/runs/r/", 3, "plan", "d" * 64)
    assert (
        len(
            {
                a,
                idempotency_key("s3://b/runs/r", 4, "plan", "d" * 64),
                idempotency_key("s3://b/runs/r", 3, "plan", "e" * 64),
                idempotency_key("s3://b/runs/r", 3, "plan", "d" * 64, attempt=1),
                idempotency_key("s3://b/runs/r", 3, "plan", "d" * 64, force_version=2),
            }
        )
        == 5
    )
    assert a.startswith("plotline/plan@3/")


def test_flow_digest_matches_what_run_stage_commits(tmp_path, calls):
    """The flows skip and find outputs by the digest run_stage records; both must agree exactly."""
    from stages.base import run_stage

    cfg = plugin_config()
    run = str(tmp_path / "runs" / "digest")
    seed = run_stage("t_seed", cfg, run, 0, show_progress=False)
    plan = plan_stage("t_count", cfg, run, 0)
    assert plan.committed is None
    count = run_stage("t_count", cfg, run, 0, show_progress=False)
    assert plan_stage("t_count", cfg, run, 0).committed.manifest.manifest_id == count.manifest.manifest_id
    assert count.manifest.input_digest == plan.digest
    done = scan_committed(cfg, run, [("t_seed", 0), ("t_count", 0), ("t_seed", 1), ("t_count", 1)])
    assert [(r["stage"], r["step"], r["status"]) for r in done] == [("t_seed", 0, "skipped"), ("t_count", 0, "skipped")]
    assert done[0]["manifest_id"] == seed.manifest.manifest_id
    store = RunStore(run)
    assert "## Inputs" in summary_markdown(store.latest("t_count", 0), "committed")
    assert step_metrics(store, 0) == {}  # no contract-checked tables: nothing to plot


def test_stage_params_and_config_resolution():
    params = StageParams(run_uri="runs/x", step=2, overrides=["seed=7"])
    assert params.model_dump()["inputs"] == {}
    with pytest.raises(ValueError):
        StageParams(run_uri="runs/x", step=-1)
    cfg = resolve_config(
        plugin_config().model_dump(mode="json"), overrides=["seed=7", "orchestration.mode=deployments"]
    )
    assert cfg.seed == 7 and cfg.orchestration.mode == "deployments"
    with pytest.raises(ConfigError, match="orchestration.nope"):
        resolve_config(plugin_config().model_dump(mode="json"), overrides=["orchestration.nope=1"])
    cfg = plugin_config("orchestration.stage_timeouts={rollout: 60}", "orchestration.timeout_s=5")
    assert cfg.orchestration.timeout_for("rollout") == 60 and cfg.orchestration.timeout_for("plan") == 5
    assert cfg.orchestration.uses_subprocess("plan") and not plugin_config().orchestration.uses_subprocess("plan")


def test_stop_request_turns_the_first_signal_into_a_flag():
    previous = signal.getsignal(signal.SIGTERM)
    with StopRequest() as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested and stop.signal_name == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is previous


def test_ui_refuses_non_loopback_hosts():
    from flows.server import ServerError, is_loopback, start_server

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")
    with pytest.raises(ServerError, match="not a loopback address"):
        start_server("0.0.0.0", 4200)


def _pinned_run(ctx) -> None:
    ctx.output.write_bytes("seen.json", ctx.inputs["pinned_seed"].manifest.manifest_id.encode())


def _pin_seed_of_step_zero(config, store, step):
    return {"pinned_seed": store.latest("t_seed", 0)}


def test_flow_digest_covers_the_inputs_a_stage_pins_from_its_config(tmp_path, calls):
    """A stage that pins inputs from its config (like evaluate's checkpoints) gets the same digest from the flows
    as from run_stage: both go through stages.base.stage_digest over the same resolved inputs."""
    from stages.base import StageSpec, register, run_stage

    register(
        StageSpec(
            name="t_pinned",
            summary="test: pins step 0's seed",
            inputs=(),
            outputs=(),
            config_sections=("seed",),
            run=_pinned_run,
            pins=_pin_seed_of_step_zero,
        )
    )
    cfg = plugin_config()
    run = str(tmp_path / "runs" / "pinned")
    seed = run_stage("t_seed", cfg, run, 0, show_progress=False)
    out = run_stage("t_pinned", cfg, run, 3, show_progress=False)
    assert [r.manifest_id for r in out.manifest.inputs] == [seed.manifest.manifest_id]
    plan = plan_stage("t_pinned", cfg, run, 3)
    assert plan.digest == out.manifest.input_digest
    assert plan.committed.manifest.manifest_id == out.manifest.manifest_id
