"""Path faults: run ids that climb out of the storage root, manifest entries that point outside their folder
(refused on read and on write), and files in a committed folder that its manifest does not list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from plotline.cli import app
from plotline.store import CorruptArtifact, RunStore
from plotline.store.manifest import FileEntry
from tests.faults.conftest import assert_run_valid
from tests.faults.test_store_faults import _commit_blob

runner = CliRunner()


def test_run_ids_cannot_leave_the_storage_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deep" / "runs").mkdir(parents=True)
    out = runner.invoke(app, ["stage", "instructions", "--run", "deep/runs/../../x"])
    assert out.exit_code != 0 and "'..' segment" in out.output and "Traceback" not in out.output
    with pytest.raises(ValueError, match=r"'\.\.' segment"):
        RunStore("s3://bucket/runs/../../x")
    out = runner.invoke(app, ["config", "show", "--set", "run_name=../../x"])
    assert out.exit_code == 2 and "run_name" in out.output
    assert not (tmp_path / "x").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["deep"]


def test_manifest_paths_must_stay_inside_their_folder(tmp_path):
    store = RunStore(str(tmp_path / "runs" / "paths"))
    art = _commit_blob(store, "probe", {"a.bin": b"hello"})
    _commit_blob(store, "other", {"b.bin": b"fine"})
    for bad in ("../../etc/hostname", "/etc/hostname", "attempt-probe/../../x", "./a.bin"):
        with pytest.raises(ValidationError, match="must be a relative path inside its folder"):
            FileEntry(name="a.bin", path=bad, sha256="0" * 64, bytes=1)  # refused on write
    with pytest.raises(ValueError, match="invalid artifact file name"):
        store.open_writer("probe", 0, 1, "attempt-y", {}).write_bytes("x/../../../up.bin", b"")
    mpath = Path(store.fs.full(art.prefix)) / "_manifest.json"
    body = json.loads(mpath.read_text())
    body["files"][0]["path"] = "../../etc/hostname"
    mpath.write_text(json.dumps(body))
    with pytest.raises(CorruptArtifact, match=r"_manifest.json is not a valid manifest: .*'\.\./\.\./etc/hostname'"):
        store.artifact("probe", 0, 0)  # refused on read
    out = runner.invoke(app, ["validate", str(Path(store.fs.full(art.prefix)))])
    assert out.exit_code == 1 and "not a valid manifest" in out.output and "Traceback" not in out.output
    out = runner.invoke(app, ["gc", "--run", store.uri])
    assert out.exit_code == 1 and "not a valid manifest" in out.output and "Traceback" not in out.output
    assert_run_valid_except(store, {"probe"})


def assert_run_valid_except(store: RunStore, broken: set[str]) -> None:
    from plotline.store.verify import verify_artifact

    for stage in store.stages_at(0):
        if stage not in broken:
            assert all(verify_artifact(a).ok for a in store.artifacts(stage, 0))


def test_validate_reports_unlisted_files(tmp_path):
    store = RunStore(str(tmp_path / "runs" / "extra"))
    art = _commit_blob(store, "probe", {"a.bin": b"hello"})
    assert assert_run_valid(store.uri) == 1
    folder = Path(store.fs.full(art.prefix))
    (folder / art.manifest.attempt / "smuggled.bin").write_bytes(b"not in the manifest")
    out = runner.invoke(app, ["validate", str(folder)])
    assert out.exit_code == 1 and "smuggled.bin: FAILED: file not listed in the manifest" in out.output
    (folder / art.manifest.attempt / "smuggled.bin").unlink()
    (folder / "attempt-loser").mkdir()
    (folder / "attempt-loser" / "a.bin").write_bytes(b"a losing writer's leftovers")
    out = runner.invoke(app, ["validate", str(folder)])
    assert out.exit_code == 0 and "uncommitted attempt (garbage" in out.output  # noted, not an artifact fault
