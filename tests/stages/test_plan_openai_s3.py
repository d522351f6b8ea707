"""plan stage, openai backend, S3 store: the adapter of the previous update lives only in this process's download
cache, so the stage refuses to send that path (before any request) unless planner.openai.shared_adapter_dir
names a folder the server shares; with it, the server is asked to load the published copy."""

from __future__ import annotations

import pytest
from test_plan_stage import planner_config

from plotline.planner.errors import PlannerError
from plotline.planner.model import adapter_version
from plotline.store import StorageConfig
from stages.base import StageSpec, register, run_stage
from tests.scripted_openai import ScriptedChat


def _publish_cold_adapter(ctx):
    ctx.output.write_dir("adapter", ctx.config.planner.cold_start_adapter)


register(
    StageSpec(
        name="test_s3_planner_adapter",
        summary="an update_planner-like adapter output",
        inputs=(),
        outputs=(),
        config_sections=("seed",),
        run=_publish_cold_adapter,
    )
)


@pytest.fixture
def server():
    with ScriptedChat(lambda body: '["The square moves.", "The square grows."]') as srv:
        yield srv, srv.url


def test_plan_on_s3_sends_the_server_a_path_it_can_read(tmp_path, s3_endpoint, s3_bucket, server):
    srv, url = server
    shared = tmp_path / "shared"
    shared.mkdir()
    opts = ["planner.backend=openai", f"planner.openai.base_url={url}", "planner.openai.max_retries=0"]
    cfg = planner_config(tmp_path, *opts)
    cfg.storage = StorageConfig.model_validate(
        {
            "root": f"s3://{s3_bucket}/runs",
            "s3": {"endpoint_url": s3_endpoint, "max_attempts": 2},
            "cache_dir": str(tmp_path / "cache"),
        }
    )
    run = f"s3://{s3_bucket}/runs/o1"
    run_stage("instructions", cfg, run, 0, show_progress=False)
    adapter = run_stage("test_s3_planner_adapter", cfg, run, 0, show_progress=False)
    pins = {"planner_adapter": adapter.artifact.uri}
    with pytest.raises(PlannerError, match=r"download cache .* set planner\.openai\.shared_adapter_dir"):
        run_stage("plan", cfg, run, 0, show_progress=False, pinned_inputs=pins)
    assert srv.calls == []  # refused before any request
    shared_cfg = planner_config(
        tmp_path,
        *opts,
        f"planner.openai.shared_adapter_dir={shared}",
        "planner.openai.shared_adapter_dir_on_server=/mnt/adapters",
    )
    shared_cfg.storage = cfg.storage
    out = run_stage("plan", shared_cfg, run, 0, show_progress=False, pinned_inputs=pins)
    name = f"plotline-planner-{adapter_version(cfg.planner.cold_start_adapter)}"
    assert (shared / name / "adapter_config.json").is_file()
    loads = [b for p, _, b in srv.calls if p.endswith("/load_lora_adapter")]
    assert loads == [{"lora_name": name, "lora_path": f"/mnt/adapters/{name}"}]
    assert out.manifest.summary["backend"] == "openai" and out.manifest.summary["plans"] == 4
