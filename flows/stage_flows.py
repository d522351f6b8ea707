"""Every stage as its own Prefect flow `stage-<name>` taking one typed parameter, `params: StageParams`.

A parent flow calls these as subflows (`inline` mode) or starts them through their deployments (`deployments`
mode); a deployment's entrypoint is the module path `flows.stage_flows.<stage>`. The built-in stages
(`plotline.stage_names`) are module attributes; a plugin stage (PLOTLINE_STAGE_MODULES) is reachable the same way
through the module's __getattr__.
"""

from __future__ import annotations

from typing import Any

from prefect import Flow, flow
from prefect.context import TagsContext
from prefect.runtime import flow_run
from prefect.utilities.annotations import quote

from flows.params import StageParams, check_stages, load_stage_modules, resolve_config
from flows.stage_task import execute_stage, publish_audit, retry_options
from flows.worker_checks import check_worker_storage, running_from_deployment
from plotline.stage_names import STAGE_NAMES

_FLOWS: dict[str, Flow] = {}


def flow_name(stage: str) -> str:
    """Prefect flow name of a stage's flow."""
    return f"stage-{stage}"


def run_stage_flow(stage: str, params: StageParams) -> dict[str, Any]:
    """Body of every stage flow: resolve the config, run the stage as a task with retries, publish its audit."""
    cfg = resolve_config(params.config, params.config_files, params.overrides)
    check_stages(cfg, [stage])
    check_worker_storage(cfg, params.run_uri, running_from_deployment())
    orch = cfg.orchestration
    cfg_json = cfg.model_dump(mode="json")
    # The task runs carry no tags (the flow run does): Prefect's task engine takes a tag-concurrency lease on a
    # tagged task's tags at its start, through one API client and worker thread per distinct tag set (kept until
    # the process exits), in a write that the embedded SQLite API often refuses (503, then a 2 s client back-off).
    with TagsContext(current_tags=set()):
        rec = execute_stage.with_options(**retry_options(cfg))(
            stage, quote(cfg_json), params.run_uri, params.step, dict(params.inputs), params.force
        )
        if orch.audit and rec["status"] == "committed":
            publish_audit(rec, quote(cfg_json), params.run_uri)
    return rec


def stage_flow_tags(run_uri: str, stage: str, step: int, gpu: bool) -> list[str]:
    """Tags of a stage's flow run as a parent flow starts it inline: stage_run_tags, plus `gpu` for a stage that
    holds a GPU slot."""
    return stage_run_tags(run_uri, stage, step) + (["gpu"] if gpu else [])


def run_id_of(run_uri: str) -> str:
    """The run id of a run URI (its last path segment)."""
    return run_uri.rstrip("/").rsplit("/", 1)[-1]


def stage_run_name(run_uri: str, stage: str, step: int) -> str:
    """Flow-run name of a stage run: `<run id>/<stage>@<step>` (runs are told apart in the UI's lists)."""
    return f"{run_id_of(run_uri)}/{stage}@{step}"


def stage_run_tags(run_uri: str, stage: str, step: int) -> list[str]:
    """Tags of a stage run: `plotline`, `run:<id>`, `step:<n>`, `stage:<name>` (filterable in the UI)."""
    return ["plotline", f"run:{run_id_of(run_uri)}", f"step:{step}", f"stage:{stage}"]


def _run_name() -> str:
    params = flow_run.parameters.get("params") or {}
    get = params.get if isinstance(params, dict) else (lambda k, d=None: getattr(params, k, d))
    return stage_run_name(get("run_uri", "") or "", flow_run.flow_name.removeprefix("stage-"), get("step", 0))


def stage_flow(stage: str) -> Flow:
    """The Prefect flow of `stage` (created once per process)."""
    if stage not in _FLOWS:

        def run(params: StageParams) -> dict[str, Any]:
            return run_stage_flow(stage, params)

        run.__name__ = run.__qualname__ = stage
        run.__doc__ = f"Run the `{stage}` stage for one step of a run and return its committed manifest reference."
        _FLOWS[stage] = flow(
            run,
            name=flow_name(stage),
            flow_run_name=_run_name,
            persist_result=False,
            log_prints=True,
            validate_parameters=True,
            description=f"plotline stage `{stage}`: inputs are committed manifests, output is one "
            f"committed, validated artifact.",
        )
    return _FLOWS[stage]


for _stage in STAGE_NAMES:  # a module attribute per built-in stage: the deployments' entrypoints
    globals()[_stage] = stage_flow(_stage)


def __getattr__(name: str) -> Flow:
    """Flows of plugin stages (registered by PLOTLINE_STAGE_MODULES), e.g. entrypoint flows.stage_flows.my_stage."""
    if name.startswith("_"):
        raise AttributeError(name)
    if name in load_stage_modules():
        return stage_flow(name)
    raise AttributeError(f"module {__name__!r} has no stage flow {name!r} (no such registered stage)")
