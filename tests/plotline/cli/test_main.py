"""The plotline command: stage --list, running a stage, validate, audit (+CSV), gc, config errors."""

import pytest
from typer.testing import CliRunner

from plotline.cli import app

runner = CliRunner()


@pytest.fixture
def run_dir(tmp_path):
    prompts = tmp_path / "prompts.csv"
    prompts.write_text('prompt,category\n"a ball rolls, then stops",object\n"first a bird flies, then lands",animal\n')
    run = tmp_path / "runs" / "cli"
    result = runner.invoke(
        app, ["stage", "instructions", "--run", str(run), "--set", "data.source=file", "--set", f"data.path={prompts}"]
    )
    assert result.exit_code == 0, result.output
    assert "committed v0" in result.output
    return run, prompts


def test_stage_list_shows_every_built_stage_module():
    import pkgutil

    import stages
    from stages.base import registry

    result = runner.invoke(app, ["stage", "--list"])
    assert result.exit_code == 0, result.output
    modules = {m.name for m in pkgutil.iter_modules(stages.__path__)} - {"base", "provenance", "pins"}  # helper modules
    registered = {
        spec.run.__module__.rsplit(".", 1)[-1]
        for spec in registry().values()
        if spec.run.__module__.startswith("stages.")
    }
    assert modules == registered  # every module registers a stage; nothing is listed that has no module
    for module in modules:
        assert module in result.output


def test_rerun_is_skipped_and_force_writes_a_new_version(run_dir):
    run, prompts = run_dir
    args = ["stage", "instructions", "--run", str(run), "--set", "data.source=file", "--set", f"data.path={prompts}"]
    assert "already committed as v0" in runner.invoke(app, args).output
    forced = runner.invoke(app, args + ["--force"])
    assert forced.exit_code == 0 and "committed v1" in forced.output
    prompts.write_text(prompts.read_text() + '"then a third thing happens",misc\n')
    assert "committed v2" in runner.invoke(app, args).output  # edited file -> new version


def test_validate_ok_then_tampered(run_dir):
    run, _ = run_dir
    version = run / "step=000000" / "instructions" / "v0000"
    ok = runner.invoke(app, ["validate", str(version)])
    assert ok.exit_code == 0, ok.output
    assert "instructions contract OK" in ok.output and "valid:" in ok.output
    parquet = next(version.glob("attempt-*/instructions.parquet"))
    parquet.write_bytes(parquet.read_bytes()[:-3])
    bad = runner.invoke(app, ["validate", str(version / "_manifest.json")])
    assert bad.exit_code == 1 and "does not match its manifest" in bad.output


def test_audit_prints_and_exports_csv(run_dir, tmp_path):
    run, _ = run_dir
    out = tmp_path / "audit.csv"
    result = runner.invoke(app, ["audit", "--run", str(run), "--step", "0", "--csv", str(out)])
    assert result.exit_code == 0, result.output
    assert "instructions" in result.output
    text = out.read_text().splitlines()
    assert text[0].startswith("section,step,stage") and any(
        ",instructions,0,instructions.parquet," in line for line in text
    )
    empty = runner.invoke(app, ["audit", "--run", str(run), "--step", "7"])
    assert empty.exit_code == 1 and "nothing committed" in empty.output


def test_bad_config_and_missing_input_exit_with_clear_messages(tmp_path):
    result = runner.invoke(app, ["stage", "instructions", "--run", str(tmp_path / "r"), "--set", "data.sorce=file"])
    assert result.exit_code == 2 and "unknown key 'data.sorce'" in result.output
    result = runner.invoke(
        app,
        [
            "stage",
            "instructions",
            "--run",
            str(tmp_path / "r"),
            "--set",
            "data.source=file",
            "--set",
            f"data.path={tmp_path / 'nope.csv'}",
        ],
    )
    assert result.exit_code == 1 and "nope.csv: file not found" in result.output
    assert not list((tmp_path / "r").rglob("_manifest.json"))
    result = runner.invoke(app, ["stage", "nosuch", "--run", str(tmp_path / "r")])
    assert result.exit_code == 2 and "unknown stage 'nosuch'" in result.output


def test_malformed_rows_are_reported_with_line_numbers(tmp_path):
    prompts = tmp_path / "p.csv"
    prompts.write_text('prompt,steps\n"ok one",\n"",\n"ok two","[1, 2]"\n')
    result = runner.invoke(
        app,
        [
            "stage",
            "instructions",
            "--run",
            str(tmp_path / "r"),
            "--set",
            "data.source=file",
            "--set",
            f"data.path={prompts}",
        ],
    )
    assert result.exit_code == 1
    assert "line 3: empty prompt" in result.output and "line 4: 'steps'" in result.output
    assert not list((tmp_path / "r").rglob("_manifest.json"))


def test_config_show_prints_yaml_and_hash():
    result = runner.invoke(app, ["config", "show", "--set", "seed=3"])
    assert result.exit_code == 0 and "seed: 3" in result.output and "# config hash:" in result.output


def test_gc_lists_uncommitted_attempts(run_dir):
    run, _ = run_dir
    junk = run / "step=000000" / "instructions" / "v0001" / "attempt-dead"
    junk.mkdir(parents=True)
    (junk / "x.parquet").write_bytes(b"partial")
    listed = runner.invoke(app, ["gc", "--run", str(run)])
    assert "1 uncommitted attempt folder(s)" in listed.output and junk.exists()
    runner.invoke(app, ["gc", "--run", str(run), "--delete"])
    assert not junk.exists() and (run / "step=000000" / "instructions" / "v0000" / "_manifest.json").exists()


def test_data_import_public_list_format(tmp_path):
    prompts = tmp_path / "eval.csv"
    prompts.write_text(
        'prompt,category\n"A chef slices a tomato, then plates it.",person\n"A glass tips over and falls.",object\n'
    )
    run = tmp_path / "runs" / "imp"
    result = runner.invoke(app, ["data", "import", str(prompts), "--run", str(run), "--split", "eval"])
    assert result.exit_code == 0, result.output
    assert "2 instruction(s)" in result.output
    from plotline.store import RunStore

    table = RunStore(str(run)).latest("instructions", 0).read_table("instructions.parquet")
    assert table.column("split").to_pylist() == ["eval", "eval"]
    assert table.column("category").to_pylist() == ["person", "object"]
