"""`rewards parse --kind KIND FILE.jsonl`: one result per input line, in input order."""

import json
from pathlib import Path

from typer.testing import CliRunner

from plotline.cli.rewards import app

CORPUS = [
    json.loads(line)
    for line in (Path(__file__).parents[1] / "rewards" / "data" / "replies.jsonl").read_text().splitlines()
]


def test_parse_outputs_in_input_order(tmp_path):
    cases = [c for c in CORPUS if c["kind"] == "temporal"]
    src = tmp_path / "replies.jsonl"
    src.write_text(
        "".join(
            json.dumps({"id": c["id"], "raw": c["raw"], "n_frames": c.get("n_frames"), "extra": 1}) + "\n"
            for c in cases
        )
    )
    result = CliRunner().invoke(app, ["parse", "--kind", "temporal", str(src)])
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == [c["id"] for c in cases]
    assert [o["status"] for o in out] == [c["status"] for c in cases]
    for o in out:
        assert set(o) == {"id", "status", "score", "reason", "fields"}
        assert (o["score"] is None) == (o["status"] == "unscored")


def test_bad_input_line_names_file_and_line(tmp_path):
    src = tmp_path / "bad.jsonl"
    src.write_text('{"id": "a", "raw": "{}"}\nnot json\n')
    result = CliRunner().invoke(app, ["parse", "--kind", "plan", str(src)])
    assert result.exit_code == 2 and "bad.jsonl:2" in result.output
