"""`plotline deploy`: register work pools, the GPU concurrency limit and deployments from infra/prefect.yaml.

The file is a standard Prefect project file (also usable with `prefect deploy --all`). On top of what Prefect reads,
`definitions.pools` lists the work pools to create (type + base job template file) and `definitions.stage_template`
gives plugin stages (registered through PLOTLINE_STAGE_MODULES, not listed in the file) a deployment too.
The file lists one stage deployment per built-in stage (`plotline.stage_names`; checked); a deployment whose
stages are not registered in this build is skipped with the reason.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from flows.deployment_names import stage_deployment_name
from flows.params import load_stage_modules
from plotline.config import PlotlineConfig
from plotline.stage_names import STAGE_NAMES

PROJECT_FILE = Path("infra") / "prefect.yaml"


def default_project_file() -> Path:
    """infra/prefect.yaml under $PLOTLINE_HOME (the images set it), the working directory, or the source tree."""
    homes = [Path(os.environ["PLOTLINE_HOME"])] if os.environ.get("PLOTLINE_HOME") else []
    for base in (*homes, Path.cwd(), Path(__file__).resolve().parents[1]):
        if (base / PROJECT_FILE).is_file():
            return base / PROJECT_FILE
    raise FileNotFoundError(f"no {PROJECT_FILE} found (set PLOTLINE_HOME to the plotline checkout, or pass --file)")


STAGE_FLOW_MODULE = "flows.stage_flows"


@dataclass
class DeploymentSpec:
    """One deployment to register (after pool retargeting and stage checks)."""

    entrypoint: str
    flow_name: str
    name: str
    work_pool: str
    job_variables: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    schedules: list[dict[str, Any]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    description: str | None = None
    concurrency_limit: int | None = None

    @property
    def full_name(self) -> str:
        """`flow/deployment`, as run_deployment and `prefect deployment run` take it."""
        return f"{self.flow_name}/{self.name}"


@dataclass
class DeployPlan:
    """What `plotline deploy` registers: pools, deployments, and what it skips (with reasons)."""

    pools: list[dict[str, Any]]
    deployments: list[DeploymentSpec]
    skipped: list[tuple[str, str]]
    pull_steps: list[dict[str, Any]]
    base_dir: Path


def load_project_file(path: str | Path) -> dict[str, Any]:
    """Read a prefect.yaml, failing with the file named when it is not a mapping with `deployments`."""
    path = Path(path)
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("deployments"), list):
        raise ValueError(f"{path} is not a Prefect project file (no `deployments` list)")
    return data


def _flow(entrypoint: str):
    from prefect.flows import load_flow_from_entrypoint

    return load_flow_from_entrypoint(entrypoint, use_placeholder_flow=False)


def required_stages(entrypoint: str, config: PlotlineConfig) -> list[str]:
    """Stages a deployment's flow needs registered (its own stage, or the stages a parent flow runs)."""
    module, attr = entrypoint.rsplit(".", 1)
    orch = config.orchestration
    if module == STAGE_FLOW_MODULE:
        return [attr]
    return {
        "flows.train.train_flow": orch.setup_stages + orch.step_stages + orch.final_stages,
        "flows.evaluate.evaluate_flow": [orch.evaluate_stage],
        "flows.synthesize.synthesize_flow": [orch.synthesize_stage],
    }.get(entrypoint, [])


def check_stage_deployments(data: dict[str, Any], path: str | Path) -> None:
    """Raise ValueError unless the project file has exactly one stage-flow deployment per built-in stage
    (`plotline.stage_names`); plugin stages may add their own or take `definitions.stage_template`."""
    listed = [
        d.get("entrypoint", "").rsplit(".", 1)[-1]
        for d in data["deployments"]
        if d.get("entrypoint", "").rsplit(".", 1)[0] == STAGE_FLOW_MODULE
    ]
    missing = [n for n in STAGE_NAMES if n not in listed]
    twice = sorted({n for n in listed if listed.count(n) > 1})
    if missing or twice:
        raise ValueError(
            f"{path}: the stage deployments disagree with the built-in stages "
            f"(missing: {', '.join(missing) or 'none'}; listed twice: {', '.join(twice) or 'none'})"
        )


def plan_deployments(
    config: PlotlineConfig,
    path: str | Path | None = None,
    pool: str | None = None,
    gpu_pool: str | None = None,
    names: list[str] | None = None,
    storage_root: str | None = None,
) -> DeployPlan:
    """Resolve the deployments of a project file (default: infra/prefect.yaml) for this build: stage checks, pool
    retargeting, plugin stages. With `pool` (everything on one pool: one box), the parent flows and their schedules
    default to inline mode and an absolute `storage_root` (default ./runs resolved here; an s3:// root is kept),
    and process pools run their flows in this working directory (see `single_box_parameters`)."""
    path = Path(path) if path else default_project_file()
    box_root = resolve_box_root(storage_root) if pool else None
    data = load_project_file(path)
    check_stage_deployments(data, path)
    defs = data.get("definitions") or {}
    pool_defs = {p["name"]: p for p in defs.get("pools") or []}
    pool_vars = {wp["name"]: wp.get("job_variables") or {} for wp in (defs.get("work_pools") or {}).values()}
    gpu_default = ((defs.get("work_pools") or {}).get("gpu") or {}).get("name")
    known = load_stage_modules(config)

    def target(pool_block: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        name = pool_block.get("name")
        if pool:
            return pool, copy.deepcopy(pool_vars.get(pool, {}))
        if gpu_pool and name == gpu_default:
            return gpu_pool, copy.deepcopy(pool_vars.get(gpu_pool, {}))
        return name, copy.deepcopy(pool_block.get("job_variables") or {})

    specs: list[DeploymentSpec] = []
    skipped: list[tuple[str, str]] = []
    entries = list(data["deployments"])
    template = defs.get("stage_template") or {}
    for stage in sorted(known):
        if not any(d.get("entrypoint") == f"{STAGE_FLOW_MODULE}.{stage}" for d in entries) and template:
            is_gpu = config.orchestration.is_gpu_stage(stage)
            entries.append(
                {
                    "name": stage_deployment_name(stage, config.orchestration.deployment_name),
                    "entrypoint": f"{STAGE_FLOW_MODULE}.{stage}",
                    "work_pool": template.get("gpu_pool" if is_gpu else "cpu_pool") or {},
                    "tags": list(template.get("tags") or []),
                    "description": f"Plugin stage {stage}.",
                }
            )
    for d in entries:
        entrypoint = d["entrypoint"]
        is_stage = entrypoint.rsplit(".", 1)[0] == STAGE_FLOW_MODULE
        flow = _flow(entrypoint)
        stage = entrypoint.rsplit(".", 1)[1]
        dep_name = stage_deployment_name(stage, config.orchestration.deployment_name) if is_stage else d["name"]
        full = f"{flow.name}/{dep_name}"
        if names and full not in names and flow.name not in names:
            continue
        missing = [s for s in required_stages(entrypoint, config) if s not in known]
        if missing:
            skipped.append((full, f"stage(s) {', '.join(missing)} not built"))
            continue
        work_pool, job_vars = target(d.get("work_pool") or {})
        if not work_pool:
            raise ValueError(f"{path}: deployment {full} has no work pool")
        params = dict(d.get("parameters") or {})
        schedules = [dict(sc) for sc in d.get("schedules") or []]
        if box_root is not None:
            params = single_box_parameters(params, box_root)
            for sc in schedules:
                if sc.get("parameters"):
                    sc["parameters"] = single_box_parameters(dict(sc["parameters"]), box_root)
            if (pool_defs.get(work_pool) or {}).get("type", "process") == "process":
                job_vars.setdefault("working_dir", str(Path.cwd().resolve()))
        specs.append(
            DeploymentSpec(
                entrypoint=entrypoint,
                flow_name=flow.name,
                name=dep_name,
                work_pool=work_pool,
                job_variables=job_vars,
                parameters=params,
                schedules=schedules,
                tags=list(d.get("tags") or []),
                description=d.get("description"),
                concurrency_limit=d.get("concurrency_limit"),
            )
        )
    pools = []
    for name in dict.fromkeys(s.work_pool for s in specs):
        pools.append(
            dict(pool_defs.get(name) or {"name": name, "type": "process", "description": "created by plotline deploy"})
        )
    return DeployPlan(
        pools=pools, deployments=specs, skipped=skipped, pull_steps=list(data.get("pull") or []), base_dir=path.parent
    )


def resolve_box_root(storage_root: str | None) -> str:
    """The storage root of single-box deployments: an s3:// root as given, else the local folder made absolute
    (default ./runs), so a worker's temporary working directory never receives a run."""
    if storage_root and storage_root.startswith("s3://"):
        return storage_root.rstrip("/")
    return str(Path(storage_root or "runs").expanduser().resolve())


def single_box_parameters(parameters: dict[str, Any], root: str) -> dict[str, Any]:
    """A parent flow's parameters for one box: its `overrides` lose any `orchestration.mode` and `storage.root`
    and gain `orchestration.mode=inline` and `storage.root=<root>`. Parameters without overrides (stage flows) are
    returned unchanged."""
    if "overrides" not in parameters:
        return parameters
    kept = [o for o in parameters["overrides"] or [] if not str(o).startswith(("orchestration.mode=", "storage.root="))]
    return {**parameters, "overrides": [*kept, "orchestration.mode=inline", f"storage.root={root}"]}


def base_job_template(pool: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """A pool's base job template: its JSON file, or Prefect's default for process pools."""
    if pool.get("base_job_template"):
        return json.loads((base_dir / pool["base_job_template"]).read_text())
    if pool.get("type", "process") == "process":
        from prefect.workers.process import ProcessWorker

        return ProcessWorker.get_default_base_job_template()
    raise ValueError(f"work pool {pool['name']} of type {pool['type']} needs a base_job_template file")


def schedule_create(spec: dict[str, Any]):
    """A DeploymentScheduleCreate from a prefect.yaml schedule entry (cron / interval / rrule, with parameters)."""
    from datetime import timedelta

    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule

    tz = spec.get("timezone")
    if spec.get("cron"):
        sched = CronSchedule(cron=spec["cron"], **({"timezone": tz} if tz else {}))
    elif spec.get("interval"):
        sched = IntervalSchedule(
            interval=timedelta(seconds=float(spec["interval"])), **({"timezone": tz} if tz else {})
        )
    elif spec.get("rrule"):
        sched = RRuleSchedule(rrule=spec["rrule"], **({"timezone": tz} if tz else {}))
    else:
        raise ValueError(f"schedule {spec} has no cron, interval or rrule")
    return DeploymentScheduleCreate(
        schedule=sched,
        active=bool(spec.get("active", True)),
        parameters=dict(spec.get("parameters") or {}),
        slug=spec.get("slug"),
    )


def store_credentials() -> list[str]:
    """Save the S3 endpoint (Prefect variable) and credentials (Secret blocks) from this environment, for the job
    variables in prefect.yaml that reference them; returns what was saved."""
    from prefect.blocks.system import Secret
    from prefect.variables import Variable

    saved = []
    if os.environ.get("PLOTLINE_S3_ENDPOINT_URL"):
        Variable.set("plotline_s3_endpoint", os.environ["PLOTLINE_S3_ENDPOINT_URL"], overwrite=True)
        saved.append("variable plotline_s3_endpoint")
    for env, block in (
        ("AWS_ACCESS_KEY_ID", "plotline-s3-access-key"),
        ("AWS_SECRET_ACCESS_KEY", "plotline-s3-secret-key"),
    ):
        if os.environ.get(env):
            Secret(value=os.environ[env]).save(block, overwrite=True)
            saved.append(f"secret {block}")
    return saved


def form_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A flow's parameter schema (Prefect's, from its signature) as the deployment's run form should show it: each
    top-level optional parameter (`X | None = None`, an `anyOf` of X and null) becomes its plain type X without a
    default, so the UI shows an ordinary, optional X field instead of a type toggle ("Property is type None"), and a
    field left empty is left out of the run (the flow then gets its default, None). Other properties are unchanged.
    """
    out = {**schema, "properties": {}}
    for name, prop in schema.get("properties", {}).items():
        options = prop.get("anyOf")
        if (
            isinstance(options, list)
            and len(options) == 2
            and {"type": "null"} in options
            and prop.get("default") is None
        ):
            (plain,) = [o for o in options if o != {"type": "null"}]
            prop = {**{k: v for k, v in prop.items() if k not in ("anyOf", "default")}, **plain}
        out["properties"][name] = prop
    return out


def apply_plan(plan: DeployPlan, config: PlotlineConfig) -> list[dict[str, str]]:
    """Create missing work pools and the GPU limit, then create or update every deployment (schedules replaced)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.utilities.callables import parameter_schema

    from flows.stage_task import ensure_gpu_limit
    from plotline.version import code_version

    rows = []
    with get_client(sync_client=True) as client:
        for pool in plan.pools:
            try:
                client.read_work_pool(pool["name"])
                rows.append(
                    {"what": "work pool", "name": pool["name"], "status": "exists", "detail": pool.get("type", "")}
                )
            except ObjectNotFound:
                client.create_work_pool(
                    WorkPoolCreate(
                        name=pool["name"],
                        type=pool.get("type", "process"),
                        base_job_template=base_job_template(pool, plan.base_dir),
                        description=pool.get("description"),
                    )
                )
                rows.append(
                    {"what": "work pool", "name": pool["name"], "status": "created", "detail": pool.get("type", "")}
                )
        limit = ensure_gpu_limit(config)
        if limit:
            rows.append(
                {
                    "what": "concurrency limit",
                    "name": limit,
                    "status": "ok",
                    "detail": f"{config.orchestration.gpu_slots} slot(s) for GPU stages",
                }
            )
        for spec in plan.deployments:
            flow = _flow(spec.entrypoint)
            flow_id = client.create_flow_from_name(flow.name)
            dep_id = client.create_deployment(
                flow_id=flow_id,
                name=spec.name,
                version=code_version(),
                work_pool_name=spec.work_pool,
                entrypoint=spec.entrypoint,
                path=None,
                pull_steps=plan.pull_steps,
                parameters={k: v for k, v in spec.parameters.items() if v is not None},  # None = the default
                job_variables=spec.job_variables,
                description=spec.description or flow.description,
                tags=spec.tags,
                parameter_openapi_schema=form_schema(parameter_schema(flow).model_dump(exclude_unset=True)),
                enforce_parameter_schema=True,
                concurrency_limit=spec.concurrency_limit,
            )
            for existing in client.read_deployment_schedules(dep_id):
                client.delete_deployment_schedule(dep_id, existing.id)
            if spec.schedules:
                client.create_deployment_schedules(dep_id, [schedule_create(s) for s in spec.schedules])
            rows.append(
                {
                    "what": "deployment",
                    "name": spec.full_name,
                    "status": "registered",
                    "detail": f"pool {spec.work_pool}"
                    + (f", {len(spec.schedules)} schedule(s)" if spec.schedules else ""),
                }
            )
    for label, reason in plan.skipped:
        rows.append({"what": "deployment", "name": label, "status": "skipped", "detail": reason})
    return rows
