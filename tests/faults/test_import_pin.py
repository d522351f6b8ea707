"""`plotline data import --run R` pins that import as R's instruction source: the next train uses it (the
instructions stage does not run from `data.source`, even when a generator version is newer) and says so."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from plotline.cli import app
from plotline.config import load_config
from plotline.data.pin import PIN_FILE, PinError, pinned_instructions
from plotline.store import RunStore, StorageConfig
from stages.base import InputSpec, StageSpec, run_stage
from tests.faults.conftest import assert_run_valid

runner = CliRunner()


def _read_instructions(ctx):
    """Probe stage: records the instruction ids it was given."""
    ids = sorted(ctx.inputs["instructions"].read_table("instructions.parquet").column("instruction_id").to_pylist())
    ctx.output.write_bytes("seen.json", json.dumps(ids).encode())


@pytest.fixture
def probe_stage(monkeypatch):
    import stages
    import stages.base

    monkeypatch.setitem(
        stages.base._REGISTRY,
        "fault_reads_instructions",
        StageSpec(
            name="fault_reads_instructions",
            summary="records the instructions it reads (fault probe)",
            inputs=(InputSpec("instructions", stage="instructions", fixed_step=0),),
            outputs=(),
            config_sections=("seed",),
            run=_read_instructions,
        ),
    )


def test_import_is_pinned_and_used_by_the_next_train(tmp_path, prefect_harness, probe_stage):
    from flows.train import instruction_source, train_flow

    prompts = tmp_path / "prompts.csv"
    prompts.write_text("id,prompt\nmine-1,a red ball rolls left\nmine-2,a blue cube jumps twice\n")
    run = str(tmp_path / "runs" / "pinned")
    out = runner.invoke(app, ["data", "import", str(prompts), "--run", run, "--config", "configs/shapes.yaml"])
    assert out.exit_code == 0, out.output
    assert "as the instruction source of run" in out.output

    cfg = load_config(
        ["configs/shapes.yaml"],
        [
            "world.num_train_instructions=2",
            "orchestration.setup_stages=[instructions]",
            "orchestration.step_stages=[fault_reads_instructions]",
            "orchestration.final_stages=[]",
            "orchestration.audit=false",
        ],
    )
    cfg.storage = StorageConfig(root=str(tmp_path / "runs"))
    store = RunStore(run, cfg.storage)
    run_stage("instructions", cfg, run, 0, show_progress=False)  # the generator's output, newer than the import
    assert store.versions("instructions", 0) == [0, 1]
    assert "the import pinned by `plotline data import`" in instruction_source(cfg, run)[1]

    records = train_flow(config=cfg.model_dump(mode="json"), run_uri=run, steps=1)
    assert [(r["stage"], r["version"], r["status"]) for r in records] == [
        ("instructions", 0, "pinned"),
        ("fault_reads_instructions", 0, "committed"),
    ]
    seen = json.loads(store.latest("fault_reads_instructions", 0).read_bytes("seen.json"))
    assert seen == ["mine-1", "mine-2"]
    assert store.versions("instructions", 0) == [0, 1]  # the generator did not run again
    assert_run_valid(run, cfg.storage)


def test_a_run_without_import_says_it_uses_data_source(tmp_path):
    from flows.train import instruction_source

    cfg = load_config(["configs/shapes.yaml"], [])
    cfg.storage = StorageConfig(root=str(tmp_path / "runs"))
    pinned, line = instruction_source(cfg, str(tmp_path / "runs" / "plain"))
    assert pinned is None and line == "instruction source: data.source=world (the instructions stage)"


def test_a_broken_pin_is_a_clear_error(tmp_path):
    run = tmp_path / "runs" / "broken"
    run.mkdir(parents=True)
    (run / PIN_FILE).write_text("{not json")
    with pytest.raises(PinError, match=rf"{PIN_FILE}: not a readable instruction pin"):
        pinned_instructions(RunStore(str(run)))
