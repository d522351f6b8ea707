"""Clear errors, never tracebacks, for bad files given to the CLI; a failed stage leaves no run.json and no empty
version folder."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from plotline.cli import app
from plotline.cli.rewards import app as rewards_app
from stages.base import StageSpec, run_stage

runner = CliRunner()


def test_non_utf8_config_is_a_clear_error(tmp_path):
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("run_name: caf\xe9\n".encode("latin-1"))
    out = runner.invoke(app, ["config", "show", "--config", str(bad)])
    assert out.exit_code == 2 and f"{bad} is not UTF-8 text (byte 0xe9" in out.output
    assert "Traceback" not in out.output


@pytest.mark.parametrize(
    "content,message",
    [
        (b'{"id": 1, "raw": "x"}\n' + "caf\xe9".encode("latin-1"), ":2: not UTF-8 text (byte 0xe9"),
        (b'{"id": 1, "raw": "{}", "n_frames": "eight"}\n', ":1: invalid input line"),
        (b'{"id": 1, "raw": "{}", "n_frames": [1]}\n', ":1: invalid input line"),
    ],
)
def test_rewards_parse_bad_file_is_a_clear_error(tmp_path, content, message):
    f = tmp_path / "replies.jsonl"
    f.write_bytes(content)
    out = runner.invoke(rewards_app, ["parse", str(f), "--kind", "step"])
    assert out.exit_code == 2 and message in out.output, out.output
    assert isinstance(out.exception, SystemExit)  # a clean exit, not an escaped exception


def _explode(ctx):
    ctx.output.write_bytes("partial.bin", b"half")
    raise RuntimeError("the stage failed half way")


def test_a_failed_stage_leaves_no_run_json_and_no_empty_folders(tmp_path, monkeypatch):
    import stages  # the real registry first, then the probe stage next to it (for this test only)
    import stages.base
    from plotline.config import load_config
    from plotline.store import StorageConfig

    monkeypatch.setitem(
        stages.base._REGISTRY,
        "fault_explodes",
        StageSpec(
            name="fault_explodes",
            summary="fails after writing a file (fault probe)",
            inputs=(),
            outputs=(),
            config_sections=("seed",),
            run=_explode,
        ),
    )

    cfg = load_config([], [])
    cfg.storage = StorageConfig(root=str(tmp_path / "runs"))
    run = tmp_path / "runs" / "failed"
    with pytest.raises(RuntimeError, match="half way"):
        run_stage("fault_explodes", cfg, str(run), 0, show_progress=False)
    leftovers = [str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")]
    assert not (run / "run.json").exists() and leftovers in ([], ["runs"], ["runs", "runs/failed"]), leftovers
