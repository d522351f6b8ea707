"""RunStore.artifact_at finds the run by its id as a whole path segment: a folder above the run whose name ends
with the run id, or is the run id, is not taken for the run (it once doubled the path: .../store/demo/store/demo)."""

from __future__ import annotations

import pytest

from plotline.config import load_config
from plotline.store import RunStore
from plotline.store.errors import StoreError
from stages.base import run_stage


@pytest.mark.parametrize("parents", [("h18demo", "store"), ("demo", "runs"), ("x", "demo", "runs")])
def test_artifact_at_reads_back_a_version_folder_under_look_alike_parents(tmp_path, parents):
    cfg = load_config(["configs/shapes.yaml"], ["world.num_train_instructions=4", "world.num_eval_instructions=2"])
    run = str(tmp_path.joinpath(*parents) / "demo")
    out = run_stage("instructions", cfg, run, 0, show_progress=False).artifact
    store = RunStore(run, cfg.storage)
    for ref in (out.uri, f"{out.uri}/_manifest.json", out.prefix):
        found = store.artifact_at(ref)
        assert found.uri == out.uri and found.manifest.manifest_id == out.manifest.manifest_id, ref
    with pytest.raises(StoreError, match="is not inside run"):
        store.artifact_at(str(tmp_path / "elsewhere" / "step=000000" / "instructions" / "v0000"))
