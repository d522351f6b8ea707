"""`plotline eval …` and `plotline synth …` end to end through Typer (mounted as the lead will mount them)."""

from __future__ import annotations

import csv
import json

import torch
import typer
from typer.testing import CliRunner

from plotline.cli.eval import app as eval_app
from plotline.cli.synth import app as synth_app

torch.set_num_threads(1)
root = typer.Typer()
root.add_typer(eval_app, name="eval")
root.add_typer(synth_app, name="synth")
runner = CliRunner()
TINY = [
    "video.target_latent_frames=6",
    "video.latent_frames_per_step=3",
    "video.switch_frames=[3]",
    "rewards.frames.temporal_num_frames=6",
    "executor.sampled_frames=6",  # at most the 6 frames a video has
    "executor.latent_height=8",
    "executor.latent_width=8",
    "executor.fps=4",
]


def _args(tmp_path, *sets):
    preset = tmp_path / "preset.yaml"
    preset.write_text(f"storage:\n  root: {tmp_path / 'runs'}\n")
    out = ["--config", str(preset)]
    for s in [*TINY, *sets]:
        out += ["--set", s]
    return out


def test_eval_run_report_pairs_and_agreement(tmp_path):
    run = str(tmp_path / "runs" / "cli")
    result = runner.invoke(
        root,
        [
            "eval",
            "run",
            "--run",
            run,
            "--condition",
            "global=global",
            "--condition",
            "oracle=steps_smooth@base",
            "--limit",
            "3",
            *_args(tmp_path, "world.num_eval_instructions=3", "eval.batch_size=3"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Temporal Order benchmark (committed)" in result.output and "oracle" in result.output
    uri = f"{run}/step=000000/evaluate/v0000"

    out = tmp_path / "report"
    result = runner.invoke(root, ["eval", "report", uri, "--out", str(out), "--baseline", "oracle"])
    assert result.exit_code == 0, result.output
    assert (out / "plots" / "tf_score.png").read_bytes().startswith(b"\x89PNG")
    assert "Baseline: oracle" in (out / "report.md").read_text()
    printed = runner.invoke(root, ["eval", "report", uri, uri])  # two artifacts combined (names prefixed)
    assert printed.exit_code == 0 and "cli:global" in printed.output

    annot, key = tmp_path / "annotate", tmp_path / "private" / "key.csv"
    result = runner.invoke(
        root, ["eval", "pairs", uri, "--a", "global", "--b", "oracle", "--out", str(annot), "--key", str(key)]
    )
    assert result.exit_code == 0, result.output
    sheet = list(csv.DictReader(open(annot / "pairs.csv")))
    assert len(sheet) == 3 and (annot / "videos" / f"{sheet[0]['pair_id']}-L.mp4").read_bytes()[4:8] == b"ftyp"
    for i, row in enumerate(sheet):
        row["choice"], row["annotator"] = ("left", "right", "tie")[i], "me"
    with open(annot / "pairs.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(sheet[0]))
        writer.writeheader()
        writer.writerows(sheet)
    result = runner.invoke(
        root,
        [
            "eval",
            "agreement",
            uri,
            "--key",
            str(key),
            "--choices",
            str(annot / "pairs.csv"),
            "--json",
            str(tmp_path / "agr.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "judge–human agreement" in result.output
    agr = {r["judge"]: r for r in json.loads((tmp_path / "agr.json").read_text())}
    assert set(agr) == {"programmatic", "image_stats"} and agr["programmatic"]["pairs"] == 3
    bad = tmp_path / "bad.csv"
    bad.write_text("pair_id,choice\npair-0000,perhaps\n")
    result = runner.invoke(root, ["eval", "agreement", uri, "--key", str(key), "--choices", str(bad)])
    assert result.exit_code == 1 and "line 2: choice 'perhaps'" in result.output

    result = runner.invoke(root, ["eval", "run", "--run", run, "--condition", "x=global@step=4", *_args(tmp_path)])
    assert result.exit_code == 2 and "no committed update output" in result.output


def test_synth_run_and_check(tmp_path):
    run = str(tmp_path / "runs" / "syn")
    result = runner.invoke(
        root,
        [
            "synth",
            "run",
            "--run",
            run,
            "--backend",
            "templates",
            "--num",
            "8",
            *_args(tmp_path, "synth.eval_fraction=0.25"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "8 instruction(s)" in result.output and "'eval': 4" in result.output
    prompts = tmp_path / "list.csv"
    prompts.write_text(
        'prompt,category\n"A chef slices a tomato, then arranges the slices on a plate.",person\n'
        '"a chef slices a tomato then arranges the slices on a plate",person\n"Too short.",object\n'
    )
    result = runner.invoke(root, ["synth", "check", str(prompts), "--strict"])
    assert result.exit_code == 1 and "1 accepted, 2 rejected" in result.output
    assert "exact duplicate of" in result.output and "words (min 5)" in result.output
