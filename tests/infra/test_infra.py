"""infra/: prefect.yaml (deployments, pools, schedules, parameters), work pool templates (rendered and checked),
docker-compose.yml (structure; `docker compose config` where the client has the plugin) and the Kubernetes
manifests (schemas + cross-object rules; `kubectl kustomize` where kubectl exists). All offline."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.infra.k8s_schema import check_manifests, gpu_limit, validate_object

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
PREFECT_DEPLOYMENT_KEYS = {
    "name",
    "version",
    "tags",
    "description",
    "schedule",
    "schedules",
    "entrypoint",
    "parameters",
    "work_pool",
    "concurrency_limit",
    "enforce_parameter_schema",
    "paused",
    "pull",
    "build",
    "push",
    "triggers",
    "version_type",
    "sla",
}


@pytest.fixture(scope="module")
def project():
    """infra/prefect.yaml as data."""
    return yaml.safe_load((INFRA / "prefect.yaml").read_text())


@pytest.fixture(scope="module")
def default_config():
    """The default configuration (no presets)."""
    from plotline.config import load_config

    return load_config()


def _template(name: str) -> dict:
    return json.loads((INFRA / "work-pools" / name).read_text())


def _placeholders(obj) -> set[str]:
    from prefect.utilities.templating import find_placeholders

    return {p.name for p in find_placeholders(obj)}


def _render(template: dict, values: dict | None = None) -> dict:
    """A base job template's job configuration with variable defaults (and `values`) filled in, as a worker does."""
    from prefect.utilities.templating import apply_values

    props = template["variables"]["properties"]
    variables = {k: v["default"] for k, v in props.items() if "default" in v}
    variables.update(values or {})
    return apply_values(template["job_configuration"], variables)


def test_every_deployment_is_well_formed_and_loads_its_flow(project, default_config):
    from prefect.flows import load_flow_from_entrypoint
    from prefect.utilities.callables import parameter_schema
    from prefect.utilities.schema_tools import validate

    from flows.deploy import schedule_create
    from flows.params import resolve_config

    pools = {p["name"] for p in project["definitions"]["pools"]}
    assert project["pull"] == [] and project["prefect-version"] == "3.8.8"
    seen = set()
    for d in project["deployments"]:
        assert set(d) <= PREFECT_DEPLOYMENT_KEYS, set(d) - PREFECT_DEPLOYMENT_KEYS
        assert ":" not in d["entrypoint"]  # module paths: the code is installed, nothing is pulled
        flow = load_flow_from_entrypoint(d["entrypoint"], use_placeholder_flow=False)
        assert (flow.name, d["name"]) not in seen
        seen.add((flow.name, d["name"]))
        assert d["work_pool"]["name"] in pools
        schema = parameter_schema(flow).model_dump(exclude_unset=True)
        for params in [d.get("parameters") or {}] + [s.get("parameters") or {} for s in d.get("schedules", [])]:
            validate({**(d.get("parameters") or {}), **params}, schema, raise_on_error=True, ignore_required=True)
            if params.get("overrides"):
                cfg = resolve_config(None, [], params["overrides"])  # every override names a real, valid key
                assert cfg.orchestration.mode == "deployments"
        for s in d.get("schedules", []):
            made = schedule_create(s)
            assert made.active is False  # nothing runs on a schedule until someone switches it on in the UI


def test_project_file_has_one_deployment_per_builtin_stage_on_its_pool():
    from plotline.stage_names import STAGE_NAMES, STAGES

    project = yaml.safe_load((REPO / "infra" / "prefect.yaml").read_text())
    pools = project["definitions"]["work_pools"]
    stage_deps = {
        d["entrypoint"].rsplit(".", 1)[1]: d
        for d in project["deployments"]
        if d["entrypoint"].startswith("flows.stage_flows.")
    }
    assert sorted(stage_deps) == sorted(STAGE_NAMES)  # the registry and the file name the same stages
    from flows.deployment_names import stage_deployment_name

    for stage in STAGES:
        d = stage_deps[stage.name]
        want = "gpu" if stage.gpu else "cpu"
        assert d["work_pool"]["name"] == pools[want]["name"] and want in d["tags"], stage.name
        assert d["name"] == stage_deployment_name(stage.name, "plotline"), stage.name  # the title deploy registers
    titles = [d["name"] for d in stage_deps.values()]
    assert len(set(titles)) == len(titles)  # one title per stage
    # the UI list shows ~26 characters of `<title> (plotline)` in a 1400-pixel window (seen in headless Chromium)
    assert all(len(s.title) <= 15 for s in STAGES), [s.title for s in STAGES if len(s.title) > 15]


def test_deploy_refuses_a_project_file_missing_a_builtin_stage(tmp_path, default_config):
    from flows.deploy import plan_deployments

    project = yaml.safe_load((REPO / "infra" / "prefect.yaml").read_text())
    project["deployments"] = [d for d in project["deployments"] if d["entrypoint"] != "flows.stage_flows.bootstrap"]
    path = tmp_path / "prefect.yaml"
    path.write_text(yaml.safe_dump(project))
    with pytest.raises(ValueError, match=r"prefect\.yaml: the stage deployments disagree .*missing: bootstrap;"):
        plan_deployments(default_config, path)


def test_plan_deployments_follows_the_built_stages_and_retargets_pools(default_config):
    from flows.deploy import plan_deployments
    from flows.deployment_names import stage_deployment_name
    from flows.dispatch import deployment_path
    from flows.params import load_stage_modules

    known = load_stage_modules(default_config)
    plan = plan_deployments(default_config)
    by_flow = {d.flow_name: d for d in plan.deployments}
    for stage in known:
        assert f"stage-{stage}" in by_flow, stage  # every built stage (plugins too) gets a deployment
    skipped = dict(plan.skipped)
    for stage in ("evaluate", "synthesize"):
        assert (f"stage-{stage}" in by_flow) == (stage in known)
        assert (f"stage-{stage}/{stage_deployment_name(stage, 'plotline')}" in skipped) == (stage not in known)
    orch = default_config.orchestration
    for d in plan.deployments:
        stage = d.flow_name.removeprefix("stage-")
        if d.flow_name.startswith("stage-"):
            assert d.work_pool == ("plotline-gpu" if orch.is_gpu_stage(stage) else "plotline-cpu"), d.full_name
            assert d.full_name == deployment_path(stage, default_config)  # what `deployments` mode starts
    assert by_flow["stage-plan"].job_variables["env"]["AWS_SECRET_ACCESS_KEY"].startswith("{{ prefect.blocks.secret.")
    assert {p["name"] for p in plan.pools} == {"plotline-cpu", "plotline-gpu"}

    k8s = plan_deployments(default_config, gpu_pool="plotline-gpu-k8s")
    moved = {d.flow_name: d for d in k8s.deployments}
    assert (
        moved["stage-rollout"].work_pool == "plotline-gpu-k8s"
        and moved["stage-rollout"].job_variables["gpu_count"] == 1
    )
    assert moved["stage-advantage"].work_pool == "plotline-cpu"
    assert next(p for p in k8s.pools if p["name"] == "plotline-gpu-k8s")["type"] == "kubernetes"

    one = plan_deployments(default_config, pool="laptop", names=["stage-plan", "train"])
    assert {d.full_name for d in one.deployments} == {"stage-plan/sample plans (plotline)", "train/plotline"}
    here = {"working_dir": str(Path.cwd().resolve())}  # one box: process pools run where `deploy` ran
    assert all(d.work_pool == "laptop" and d.job_variables == here for d in one.deployments)
    assert one.pools == [{"name": "laptop", "type": "process", "description": "created by plotline deploy"}]


@pytest.mark.parametrize("name", ["docker-gpu.json", "kubernetes-gpu.json"])
def test_work_pool_templates_define_every_variable_and_valid_defaults(name):
    import jsonschema

    template = _template(name)
    props = template["variables"]["properties"]
    assert _placeholders(template["job_configuration"]) <= set(props), _placeholders(
        template["job_configuration"]
    ) - set(props)
    jsonschema.Draft7Validator.check_schema(template["variables"])
    defaults = {k: v["default"] for k, v in props.items() if "default" in v}
    jsonschema.Draft7Validator(template["variables"]).validate(defaults)


def test_docker_pool_requests_gpus_the_way_docker_py_accepts():
    from docker.types import DeviceRequest, HostConfig

    config = _render(_template("docker-gpu.json"))
    kwargs = config["container_create_kwargs"]
    requests = [DeviceRequest(**r) for r in kwargs["device_requests"]]
    assert requests[0]["Count"] == 1 and requests[0]["Capabilities"] == [["gpu"]] and requests[0]["Driver"] == "nvidia"
    host = HostConfig(version="1.44", device_requests=kwargs["device_requests"], shm_size=kwargs["shm_size"])
    assert host["DeviceRequests"][0]["Count"] == 1
    assert (
        _render(_template("docker-gpu.json"), {"gpu_count": -1})["container_create_kwargs"]["device_requests"][0][
            "count"
        ]
        == -1
    )
    assert config["networks"] == ["plotline"] and config["image"] == "plotline-gpu:0.1.0"


def test_kubernetes_pool_renders_a_valid_job_requesting_nvidia_gpus():
    config = _render(
        _template("kubernetes-gpu.json"),
        {
            "name": "stage-plan-run",
            "env": {"A": "1"},
            "command": "python -m x",
            "labels": {"prefect.io/flow-run-id": "abc"},
        },
    )
    job = config["job_manifest"]
    job["metadata"]["name"] = job["metadata"].pop("generateName").rstrip("-")  # the API server fills in the suffix
    container = job["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [{"name": k, "value": v} for k, v in container["env"].items()]  # the worker's conversion
    container["args"] = container["args"].split()
    assert validate_object(job) == []
    assert gpu_limit(job) == 1 and job["metadata"]["namespace"] == "plotline"
    assert check_manifests([job, *_k8s_docs()]) == []


def _k8s_docs() -> list[dict]:
    docs = []
    for path in sorted((INFRA / "k8s").glob("*.yaml")):
        if path.name != "kustomization.yaml":
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def test_kubernetes_manifests_pass_schema_and_reference_checks():
    docs = _k8s_docs()
    assert check_manifests(docs) == []
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for server in ("vllm-planner", "vllm-judge"):
        assert ("Deployment", server) in kinds and ("Service", server) in kinds
        assert gpu_limit(next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == server)) == 1
    worker = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "prefect-worker")
    args = worker["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--pool") + 1] == "plotline-gpu-k8s" and args[args.index("--type") + 1] == "kubernetes"
    assert all(d["metadata"].get("namespace") == "plotline" for d in docs if d["kind"] != "Namespace")
    listed = yaml.safe_load((INFRA / "k8s" / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in (INFRA / "k8s").glob("*.yaml") if p.name != "kustomization.yaml")
    # the pool's Jobs run as the ServiceAccount the template names
    assert (
        "ServiceAccount",
        _template("kubernetes-gpu.json")["variables"]["properties"]["service_account_name"]["default"],
    ) in kinds


def test_the_checker_catches_typical_mistakes():
    docs = _k8s_docs()
    svc = next(d for d in docs if d["kind"] == "Service")
    broken = json.loads(json.dumps(svc))
    broken["spec"]["ports"][0]["targetPort"] = "htp"
    assert any("targetPort htp" in e for e in check_manifests([d for d in docs if d is not svc] + [broken]))
    dep = json.loads(json.dumps(next(d for d in docs if d["kind"] == "Deployment")))
    dep["spec"]["template"]["spec"]["containers"][0]["containerport"] = 8000
    assert any("containerport" in e for e in validate_object(dep))


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed here")
def test_kustomize_builds_offline():
    out = subprocess.run(["kubectl", "kustomize", str(INFRA / "k8s")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    assert check_manifests(docs) == []


COMPOSE_SERVICE_KEYS = {
    "image",
    "build",
    "command",
    "entrypoint",
    "environment",
    "ports",
    "volumes",
    "depends_on",
    "healthcheck",
    "restart",
    "deploy",
    "user",
    "pull_policy",
    "networks",
    "profiles",
    "working_dir",
}


@pytest.fixture(scope="module")
def compose():
    """infra/docker-compose.yml as data."""
    return yaml.safe_load((INFRA / "docker-compose.yml").read_text())


def test_compose_file_structure(compose):
    assert set(compose) <= {"name", "services", "networks", "volumes"} | {k for k in compose if k.startswith("x-")}
    services = compose["services"]
    assert {
        "postgres",
        "prefect-server",
        "objectstore",
        "worker-cpu",
        "worker-gpu",
        "vllm-planner",
        "vllm-judge",
    } <= set(services)
    named_volumes = set(compose.get("volumes") or {})
    for name, svc in services.items():
        assert set(svc) <= COMPOSE_SERVICE_KEYS, (name, set(svc) - COMPOSE_SERVICE_KEYS)
        assert "image" in svc or "build" in svc, name
        if "build" in svc:
            assert (INFRA / svc["build"]["context"] / svc["build"]["dockerfile"]).is_file(), name
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services, (name, dep)
            assert cond["condition"] in {"service_started", "service_healthy", "service_completed_successfully"}
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], (name, dep)
        for port in svc.get("ports") or []:
            assert port.startswith("127.0.0.1:"), (name, port)  # published on loopback only
        for vol in svc.get("volumes") or []:
            source = vol.split(":")[0]
            assert source.startswith("/") or source in named_volumes, (name, vol)
        env = svc.get("environment") or {}
        for key, value in env.items():
            assert isinstance(value, str), (name, key)
            if any(word in key for word in ("PASSWORD", "SECRET")):
                assert re.fullmatch(r".*\$\{[A-Z0-9_]+:\?[^}]+\}.*", value), (
                    name,
                    key,
                )  # required from the env, no default
    for name in ("vllm-planner", "vllm-judge", "gpu-image"):
        devices = services[name]["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["capabilities"] == ["gpu"] and devices[0]["driver"] == "nvidia"
    assert compose["networks"]["default"]["name"] == "plotline"  # what the docker pool's job containers join
    docker_pool = _render(_template("docker-gpu.json"))
    for mount in docker_pool["volumes"]:
        assert mount.split(":")[0] in {v.get("name") for v in compose["volumes"].values() if v}
    gpu_worker = services["worker-gpu"]
    assert gpu_worker["command"][gpu_worker["command"].index("--pool") + 1] == "plotline-gpu"
    assert "/var/run/docker.sock:/var/run/docker.sock" in gpu_worker["volumes"]
    assert services["deploy"]["command"] == ["deploy", "--store-credentials"]


def _compose_plugin() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.skipif(not _compose_plugin(), reason="the docker client here has no compose plugin")
def test_docker_compose_config_accepts_the_file(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin:/usr/local/bin",
        "PREFECT_DB_PASSWORD": "x",
        "PLOTLINE_S3_SECRET_KEY": "y",
        "HOME": str(tmp_path),
    }
    out = subprocess.run(
        ["docker", "compose", "-f", str(INFRA / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert out.returncode == 0, out.stderr
