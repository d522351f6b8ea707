"""`plotline memory` on the real-size presets (meta device: no weights, no GPU)."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from plotline.cli import app

REPO = Path(__file__).resolve().parents[3]
runner = CliRunner(env={"COLUMNS": "220"})


@pytest.mark.parametrize("preset", ["self_forcing", "longlive"])
def test_memory_runs_on_the_real_presets_and_says_what_fits(preset, tmp_path):
    out = tmp_path / "mem.json"
    result = runner.invoke(
        app,
        [
            "memory",
            "--config",
            str(REPO / "configs" / f"{preset}.yaml"),
            "--stage",
            "plan",
            "--stage",
            "rollout",
            "-k",
            "12",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "rollout (k=12)" in result.output and "fits 141 GB" in result.output
    rows = {r["stage"]: r for r in json.loads(out.read_text())["stages"]}
    assert set(rows) == {"plan (planner sampling)", "rollout (k=12)"}
    roll = rows["rollout (k=12)"]
    assert roll["fits"] and roll["parts"]["DiT weights"] == pytest.approx(2 * 1.42e9, rel=0.02)  # 1.42 B bf16
    assert roll["parts"]["text encoder weights"] == pytest.approx(2 * 5.68e9, rel=0.02)  # UMT5-XXL encoder
    assert rows["plan (planner sampling)"]["parts"]["planner weights"] == pytest.approx(2 * 1.72e9, rel=0.02)


def test_memory_exits_1_naming_the_stage_that_does_not_fit():
    result = runner.invoke(
        app, ["memory", "--config", str(REPO / "configs" / "longlive.yaml"), "--stage", "plan", "--gpu-memory", "4"]
    )
    assert result.exit_code == 1
    assert "does not fit 4 GB: plan (planner sampling)" in result.output
    bad = runner.invoke(app, ["memory", "--stage", "nope"])
    assert bad.exit_code == 2 and "unknown stage(s) nope" in bad.output
