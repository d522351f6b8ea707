"""`plotline stage NAME --run R` reruns under the run's recorded config (run.json), prints every key that
--set/--config change, and a run without run.json still starts from the presets."""

from typer.testing import CliRunner

from plotline.cli import app
from plotline.cli.rerun import config_diff, flatten

runner = CliRunner()


def test_config_diff_lists_changed_added_and_removed_leaves():
    old = {"a": {"b": 1, "c": [6, 12]}, "d": "x"}
    new = {"a": {"b": 2, "c": [6, 12]}, "e": True}
    assert flatten(old) == {"a.b": 1, "a.c": [6, 12], "d": "x"}
    assert config_diff(old, new) == ["a.b: 1 -> 2", 'd: "x" -> (absent)', "e: (absent) -> true"]
    assert config_diff(old, old) == []


def test_rerun_uses_run_json_and_prints_the_diff(tmp_path):
    prompts = tmp_path / "prompts.csv"
    prompts.write_text('prompt,category\n"a ball rolls, then stops",object\n')
    run = str(tmp_path / "runs" / "rerun")
    first = runner.invoke(
        app,
        [
            "stage",
            "instructions",
            "--run",
            run,
            "--set",
            "data.source=file",
            "--set",
            f"data.path={prompts}",
            "--set",
            "seed=3",
        ],
    )
    assert first.exit_code == 0 and "committed v0" in first.output, first.output
    assert "recorded config" not in first.output  # a new run: presets, nothing to compare with
    # no --set: the run's own config (file source, seed 3), not configs/shapes.yaml's world source -> skipped
    again = runner.invoke(app, ["stage", "instructions", "--run", run])
    assert again.exit_code == 0, again.output
    assert "the run's recorded config (run.json)" in again.output and "already committed as v0" in again.output
    assert "differs" not in again.output
    changed = runner.invoke(app, ["stage", "instructions", "--run", run, "--set", "data.instructions_per_step=7"])
    assert changed.exit_code == 0, changed.output
    assert "differs from the run's recorded config in 1 key(s)" in changed.output
    assert "data.instructions_per_step: 64 -> 7" in changed.output
    replaced = runner.invoke(app, ["stage", "instructions", "--run", run, "--config", "configs/shapes.yaml"])
    assert replaced.exit_code == 0, replaced.output
    assert (
        "replacing the run's recorded config" in replaced.output and 'data.source: "file" -> "world"' in replaced.output
    )
