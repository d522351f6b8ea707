"""`plotline ui` (a real Prefect server subprocess on a free loopback port), `plotline deploy` from
infra/prefect.yaml, and the train flow in `deployments` mode end to end with a process worker started here.
Every wait is bounded; the server and the worker are stopped (process groups) at teardown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path

import httpx
import pytest

from plotline.net import free_port
from plotline.store import RunStore
from tests.flows import plugin_stages
from tests.flows.helpers import REPO, child_env, plugin_config, read_calls, wait_for

pytestmark = pytest.mark.slow  # a real Prefect server subprocess (about 15 s to start) and worker processes


def deploy(monkeypatch, *args: str, **options) -> str:
    """Run the `plotline deploy` command function in this process and return what it printed. (Typer's CliRunner
    and capsys swap the standard streams, which Prefect's log handlers would keep after they are closed.)"""
    import importlib
    import io

    from rich.console import Console

    cli = importlib.import_module("plotline.cli.main")  # the module: the package exports a `main` function

    buffer = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=buffer, width=200))
    kwargs = dict(
        file=None,
        pool=None,
        gpu_pool=None,
        name=None,
        store_credentials=False,
        dry_run=False,
        config=None,
        set_=list(args),
        storage_root=None,
    )
    kwargs.update(options)
    cli.deploy_cmd(**kwargs)
    return buffer.getvalue()


class Child:
    """A child process in its own process group whose output is collected (and can be waited on)."""

    def __init__(self, args: list[str], env: dict[str, str]):
        self.lines: deque[str] = deque(maxlen=400)
        self.proc = subprocess.Popen(
            args,
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    def output(self) -> str:
        """Everything collected so far."""
        return "\n".join(self.lines)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30) -> int | None:
        """Signal the process group, wait (bounded), SIGKILL the group if it is still there."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        return self.proc.returncode


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory):
    """`plotline ui` on a free loopback port with its own PREFECT_HOME; yields (base URL, process)."""
    port = free_port()
    home = tmp_path_factory.mktemp("prefect-home")
    store = tmp_path_factory.mktemp("ui-store")
    (store / "r").mkdir()
    (store / "r" / "hello.txt").write_text("served")
    child = Child(
        [sys.executable, "-m", "plotline.cli", "ui", "--port", str(port), "--home", str(home), "--store", str(store)],
        child_env(PREFECT_API_URL=""),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: f"Prefect UI: {url}" in child.output() or child.proc.poll() is not None,
            150,
            "`plotline ui` to print its URL",
            interval_s=0.25,
        )
        assert child.proc.poll() is None, child.output()
        yield url, child
    finally:
        code = child.stop(signal.SIGTERM)
        assert code == 0, f"`plotline ui` exited with {code}:\n{child.output()}"


def test_plotline_ui_serves_the_api_and_ui_on_loopback(ui_server):
    url, child = ui_server
    assert httpx.get(f"{url}/api/health", timeout=10).json() is True
    assert httpx.get(f"{url}/", timeout=10).status_code == 200
    assert f"PREFECT_API_URL={url}/api" in child.output()
    # the port is not Prefect's default 4200: the UI must be told this server's own API URL
    assert not url.endswith(":4200")
    assert httpx.get(f"{url}/ui-settings", timeout=10).json()["api_url"] == f"{url}/api"
    files = next(line.split()[1] for line in child.output().splitlines() if line.startswith("Files:"))
    assert httpx.get(f"{files}r/hello.txt", timeout=10).text == "served"  # the store file server answers


@pytest.fixture
def api(ui_server):
    """Point this process's Prefect client at the `plotline ui` server."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    api_url = f"{ui_server[0]}/api"
    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        yield api_url
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=10)  # send this test's flow logs while the server is still up


def _process_worker(api: str, pool: str, limit: int, home: Path, **env: str) -> Child:
    """A real `prefect worker` of type process on `pool` against the test API `api`, polling every second, with
    its own PREFECT_HOME; `env` adds the plugin stages' variables."""
    command = [sys.executable, "-m", "prefect", "worker", "start", "--type", "process"]
    return Child(
        [*command, "--pool", pool, "--limit", str(limit)],
        child_env(
            PREFECT_API_URL=api,
            PREFECT_WORKER_QUERY_SECONDS="1",
            PREFECT_WORKER_PREFETCH_SECONDS="1",
            PREFECT_HOME=str(home),
            **env,
        ),
    )


def _client():
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def test_deploy_registers_pools_deployments_and_schedules_from_infra(api, monkeypatch):
    output = deploy(monkeypatch)
    import stages  # noqa: F401
    from flows.deployment_names import stage_deployment_name
    from stages.base import registry

    with _client() as client:
        pools = {p.name: p for p in client.read_work_pools()}
        assert pools["plotline-cpu"].type == "process" and pools["plotline-gpu"].type == "docker"
        gpu_template = pools["plotline-gpu"].base_job_template
        assert gpu_template["job_configuration"]["container_create_kwargs"]["device_requests"][0]["capabilities"] == [
            ["gpu"]
        ]
        plan = client.read_deployment_by_name("stage-plan/sample plans (plotline)")
        assert plan.work_pool_name == "plotline-gpu" and plan.job_variables["image"] == "plotline-gpu:0.1.0"
        assert plan.entrypoint == "flows.stage_flows.plan" and "params" in plan.parameter_openapi_schema["properties"]
        assert client.read_deployment_by_name("stage-advantage/advantages (plotline)").work_pool_name == "plotline-cpu"
        train = client.read_deployment_by_name("train/plotline")
        schedules = client.read_deployment_schedules(train.id)
        assert len(schedules) == 1 and schedules[0].active is False
        assert schedules[0].parameters["steps"] == 20 and schedules[0].schedule.cron == "0 2 * * *"
        assert client.read_global_concurrency_limit_by_name("plotline-gpu").limit == 1
        for stage in ("evaluate", "synthesize"):
            built = stage in registry()
            assert f"stage-{stage}/{stage_deployment_name(stage, 'plotline')}" in output and (
                "not built" in output or built
            )

    # --store-credentials: the S3 endpoint and keys the GPU job templates reference resolve on a worker
    from prefect.utilities.templating import apply_values, resolve_block_document_references, resolve_variables

    monkeypatch.setenv("PLOTLINE_S3_ENDPOINT_URL", "http://objectstore:9000")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
    output = deploy(monkeypatch, store_credentials=True, name=["stage-plan"])
    assert "secret plotline-s3-secret-key" in output
    with _client() as client:
        plan = client.read_deployment_by_name("stage-plan/sample plans (plotline)")
        template = client.read_work_pool("plotline-gpu").base_job_template
    props = template["variables"]["properties"]
    values = {**{k: v["default"] for k, v in props.items() if "default" in v}, **plan.job_variables}
    job = apply_values(template["job_configuration"], values)

    async def resolve(obj):
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            obj = await resolve_block_document_references(obj, client=client)
            return await resolve_variables(obj, client=client)

    import asyncio

    env = asyncio.run(resolve(job))["env"]
    assert env == {
        "PLOTLINE_S3_ENDPOINT_URL": "http://objectstore:9000",
        "AWS_ACCESS_KEY_ID": "key-id",
        "AWS_SECRET_ACCESS_KEY": "not-a-real-secret",
    }

    # GPU stages onto the Kubernetes pool: its template requests nvidia.com/gpu; schedules are replaced, not doubled
    deploy(monkeypatch, gpu_pool="plotline-gpu-k8s")
    with _client() as client:
        k8s = client.read_work_pool("plotline-gpu-k8s")
        assert k8s.type == "kubernetes"
        container = k8s.base_job_template["job_configuration"]["job_manifest"]["spec"]["template"]["spec"][
            "containers"
        ][0]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "{{ gpu_count }}"
        plan = client.read_deployment_by_name("stage-plan/sample plans (plotline)")
        assert plan.work_pool_name == "plotline-gpu-k8s" and plan.job_variables["namespace"] == "plotline"
        assert len(client.read_deployment_schedules(client.read_deployment_by_name("train/plotline").id)) == 1


def test_deployments_mode_end_to_end_with_a_process_worker(api, tmp_path, calls, monkeypatch):
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName, FlowRunFilter
    from prefect.deployments import run_deployment

    from flows.resolve import idempotency_key
    from flows.train import train_flow

    pool = "e2e-process"
    output = deploy(
        monkeypatch,
        f"orchestration.stage_modules=[{plugin_stages.MODULE}]",
        "orchestration.deployment_name=e2e",
        pool=pool,
        name=["stage-t_seed", "stage-t_count"],
    )
    assert "stage-t_seed/plugin stage t_seed (e2e)" in output and "stage-t_count/plugin stage t_count (e2e)" in output

    worker = _process_worker(
        api,
        pool,
        2,
        tmp_path / "worker-home",
        PLOTLINE_STAGE_MODULES=plugin_stages.MODULE,
        PLOTLINE_TEST_CALLS=str(calls),
    )
    try:
        run = str(tmp_path / "runs" / "deployed")
        cfg = plugin_config(
            "orchestration.mode=deployments",
            "orchestration.deployment_name=e2e",
            "orchestration.deployment_timeout_s=120",
        )
        records = train_flow(config=cfg.model_dump(mode="json"), run_uri=run, steps=1)
        assert [(r["stage"], r["step"], r["status"]) for r in records] == [
            ("t_seed", 0, "committed"),
            ("t_count", 0, "committed"),
        ]
        assert read_calls(calls) == {"t_seed@0": 1, "t_count@0": 1}  # in the worker's flow-run processes
        store = RunStore(run)
        final = store.latest("t_count", 0).manifest
        assert final.manifest_id == records[-1]["manifest_id"]
        assert [i.manifest_id for i in final.inputs] == [records[0]["manifest_id"]]  # the pinned input reference

        with _client() as client:
            deps = client.read_deployments(
                deployment_filter=DeploymentFilter(
                    name=DeploymentFilterName(any_=["plugin stage t_seed (e2e)", "plugin stage t_count (e2e)"])
                )
            )
            assert len(deps) == 2
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(deployment_id={"any_": [d.id for d in deps]}))
            rid = run.rstrip("/").rsplit("/", 1)[-1]
            assert sorted(r.name for r in runs) == [f"{rid}/t_count@0", f"{rid}/t_seed@0"]
            assert all({f"run:{rid}", "step:0"} <= set(r.tags) for r in runs)
            assert all(r.state.is_completed() and r.idempotency_key for r in runs)
            by_name = {r.name: r for r in runs}

        # a retried parent asks again with the same key: it gets the same flow run back, nothing new starts
        key = idempotency_key(run, 0, "t_count", final.input_digest)
        assert by_name[f"{rid}/t_count@0"].idempotency_key == key
        again = run_deployment(
            "stage-t_count/plugin stage t_count (e2e)",
            parameters={"params": {"run_uri": run, "step": 0}},
            idempotency_key=key,
            timeout=0,
            as_subflow=False,
        )
        assert again.id == by_name[f"{rid}/t_count@0"].id

        # a run that already failed under a key is not re-attached to: the parent moves on to the next attempt key
        from prefect.states import Failed

        from flows.dispatch import launch_key
        from flows.params import StageParams
        from flows.resolve import plan_stage

        fresh = StageParams(run_uri=run, step=7, config=cfg.model_dump(mode="json"))
        plan7 = plan_stage("t_seed", cfg, run, 7)
        key7 = idempotency_key(run, 7, "t_seed", plan7.digest)
        assert launch_key("t_seed", fresh, cfg, plan7) == key7
        with _client() as client:
            dep = client.read_deployment_by_name("stage-t_seed/plugin stage t_seed (e2e)")
            client.create_flow_run_from_deployment(
                dep.id,
                parameters={"params": fresh.model_dump(mode="json")},
                idempotency_key=key7,
                state=Failed(message="test"),
            )
        assert launch_key("t_seed", fresh, cfg, plan7) == f"{key7}/attempt-1"

        # a rerun of the parent finds everything committed and starts no deployment run at all
        records = train_flow(config=cfg.model_dump(mode="json"), run_uri=run, steps=1)
        assert [r["status"] for r in records] == ["skipped"] * 2
        with _client() as client:
            assert (
                len(client.read_flow_runs(flow_run_filter=FlowRunFilter(deployment_id={"any_": [d.id for d in deps]})))
                == 3
            )  # the two stage runs + the failed one above
        assert read_calls(calls) == {"t_seed@0": 1, "t_count@0": 1}
    finally:
        code = worker.stop(signal.SIGTERM)
        assert code is not None, worker.output()


def test_a_train_run_from_the_local_pool_defaults_writes_to_the_absolute_root(api, tmp_path, calls, monkeypatch):
    """`plotline deploy --pool local`, a real process worker on `local`, and a 1-step train started from the
    deployment's own defaults (inline mode, the absolute root given at deploy time): the run lands in that root,
    not in the worker's working directory."""
    from prefect.deployments import run_deployment

    root = tmp_path / "store"
    preset = tmp_path / "tiny.yaml"  # a 1-step pipeline of the cheap plugin stages
    preset.write_text(
        "run_name: local-pool\nsteps: 1\norchestration:\n"
        f"  stage_modules: [{plugin_stages.MODULE}]\n  setup_stages: []\n  step_stages: [t_seed, t_count]\n"
        "  final_stages: []\n  stage_retries: 0\n"
    )
    output = deploy(
        monkeypatch, f"orchestration.stage_modules=[{plugin_stages.MODULE}]", pool="local", storage_root=str(root)
    )
    assert "train/plotline" in output and "stage-plan/sample plans (plotline)" in output
    with _client() as client:
        train = client.read_deployment_by_name("train/plotline")
    assert train.work_pool_name == "local"
    assert train.parameters["overrides"][-2:] == ["orchestration.mode=inline", f"storage.root={root.resolve()}"]
    workdir = train.job_variables["working_dir"]

    worker = _process_worker(api, "local", 1, tmp_path / "worker-home", PLOTLINE_TEST_CALLS=str(calls))
    try:
        # only the preset is given: mode and storage root come from the deployment's defaults
        fr = run_deployment(
            "train/plotline",
            parameters={"config_files": [str(preset)]},
            timeout=240,
            poll_interval=1,
            as_subflow=False,
        )
        assert fr.state is not None and fr.state.is_completed(), (fr.state, worker.output())
        assert fr.parameters["overrides"] == train.parameters["overrides"]  # filled in from the defaults
        assert read_calls(calls) == {"t_seed@0": 1, "t_count@0": 1}  # ran once each, in the worker's flow run
        store = RunStore(str(root.resolve() / "local-pool"))
        count = store.latest("t_count", 0)
        assert count is not None and count.uri.startswith(str(root.resolve()))
        assert [i.manifest_id for i in count.manifest.inputs] == [store.latest("t_seed", 0).manifest.manifest_id]
        assert (root / "local-pool" / "run.json").is_file()
        assert not (Path(workdir) / "runs" / "local-pool").exists()  # nothing in the worker's working directory
    finally:
        code = worker.stop(signal.SIGTERM)
        assert code is not None, worker.output()


def test_deployments_mode_runs_a_concurrent_group_at_the_same_time(api, tmp_path, calls, monkeypatch):
    """concurrent_updates=auto in `deployments` mode: the group's two stage runs go to the worker together (each
    completes only while the other runs: tests/flows/plugin_stages.py t_meet_a/b)."""
    from flows.train import train_flow

    pool = "e2e-concurrent"
    meet = tmp_path / "meet"
    meet.mkdir()
    names = ["stage-t_seed", "stage-t_meet_a", "stage-t_meet_b"]
    output = deploy(
        monkeypatch,
        f"orchestration.stage_modules=[{plugin_stages.MODULE}]",
        "orchestration.deployment_name=e2e-group",
        pool=pool,
        name=names,
    )
    assert all(f"{n}/plugin stage {n.removeprefix('stage-')} (e2e-group)" in output for n in names)
    worker = _process_worker(
        api,
        pool,
        2,
        tmp_path / "worker-home",
        PLOTLINE_STAGE_MODULES=plugin_stages.MODULE,
        PLOTLINE_TEST_CALLS=str(calls),
        PLOTLINE_TEST_MEET=str(meet),
    )
    try:
        run = str(tmp_path / "runs" / "group")
        cfg = plugin_config(
            "orchestration.mode=deployments",
            "orchestration.deployment_name=e2e-group",
            "orchestration.deployment_timeout_s=120",
            "orchestration.step_stages=[t_seed,t_meet_a,t_meet_b]",
            "orchestration.concurrent_groups=[[t_meet_a,t_meet_b]]",
        )
        assert cfg.orchestration.concurrent_updates == "auto"
        records = train_flow(config=cfg.model_dump(mode="json"), run_uri=run, steps=1)
        assert [(r["stage"], r["status"]) for r in records] == [
            ("t_seed", "committed"),
            ("t_meet_a", "committed"),
            ("t_meet_b", "committed"),
        ]
        assert read_calls(calls) == {"t_seed@0": 1, "t_meet_a@0": 1, "t_meet_b@0": 1}
        assert {p.name for p in meet.iterdir()} == {"t_meet_a.started", "t_meet_b.started"}
    finally:
        code = worker.stop(signal.SIGTERM)
        assert code is not None, worker.output()
