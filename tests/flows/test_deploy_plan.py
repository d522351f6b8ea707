"""`plotline deploy --pool P` puts everything on one box: the parent flows (train, evaluate, synthesize) and their
schedules default to inline mode and an absolute storage root, and process pools run in the deploying working
directory, so a run launched from the UI neither needs S3 nor lands in a worker's temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.deploy import plan_deployments, resolve_box_root, single_box_parameters
from flows.params import resolve_config
from plotline.config import load_config


def _parents(plan):
    return {d.flow_name: d for d in plan.deployments if "overrides" in d.parameters}


def test_single_box_parameters_replace_mode_and_root_and_keep_the_rest():
    params = {"steps": 20, "overrides": ["orchestration.mode=deployments", "storage.root=s3://b/runs", "seed=3"]}
    out = single_box_parameters(params, "/data/runs")
    assert out == {"steps": 20, "overrides": ["seed=3", "orchestration.mode=inline", "storage.root=/data/runs"]}
    assert params["overrides"][0] == "orchestration.mode=deployments"  # the input is not modified
    assert single_box_parameters({"params": {}}, "/x") == {"params": {}}  # stage flows take no overrides


def test_box_root_is_absolute_and_s3_is_kept(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_box_root(None) == str(tmp_path.resolve() / "runs")
    assert resolve_box_root("rel/dir") == str(tmp_path.resolve() / "rel" / "dir")
    assert resolve_box_root("s3://bucket/runs/") == "s3://bucket/runs"


def test_deploy_on_one_pool_defaults_parents_to_inline_and_an_absolute_root(tmp_path, monkeypatch):
    cfg = load_config([], [])
    root = tmp_path / "store"
    default = _parents(plan_deployments(cfg))
    assert "train" in default
    assert "storage.root=s3://plotline/runs" in default["train"].parameters["overrides"]  # multi-box defaults

    plan = plan_deployments(cfg, pool="local", storage_root=str(root))
    assert {d.work_pool for d in plan.deployments} == {"local"}
    parents = _parents(plan)
    assert set(parents) == set(default)
    for dep in parents.values():
        resolved = resolve_config(overrides=dep.parameters["overrides"])  # what the flow builds from its defaults
        assert resolved.orchestration.mode == "inline"
        assert Path(resolved.storage.root).is_absolute() and resolved.storage.root == str(root.resolve())
        assert dep.job_variables["working_dir"] == str(Path.cwd().resolve())
        for schedule in dep.schedules:
            overrides = (schedule.get("parameters") or {}).get("overrides")
            if overrides is not None:
                assert overrides[-2:] == ["orchestration.mode=inline", f"storage.root={root.resolve()}"]
                assert not any(o.startswith("storage.root=s3://") for o in overrides)


def test_parent_flow_parameters_carry_descriptions_for_the_ui_form():
    from prefect.utilities.callables import parameter_schema

    from flows.evaluate import evaluate_flow
    from flows.synthesize import synthesize_flow
    from flows.train import train_flow

    for flow in (train_flow, evaluate_flow, synthesize_flow):
        props = parameter_schema(flow.fn).model_dump()["properties"]
        undocumented = [name for name, prop in props.items() if not prop.get("description")]
        assert not undocumented, f"{flow.name}: parameters without a description in the deployment form: {undocumented}"
    train = parameter_schema(train_flow.fn).model_dump()["properties"]
    assert "storage.root=" in train["overrides"]["description"] and "RL steps" in train["steps"]["description"]


def test_stage_flow_parameters_carry_descriptions_for_the_ui_form():
    """A stage deployment's form is the StageParams object: every field shows its docstring."""
    from prefect.utilities.callables import parameter_schema

    import flows.stage_flows as stage_flows
    from plotline.stage_names import STAGE_NAMES

    for stage in STAGE_NAMES:
        schema = parameter_schema(getattr(stage_flows, stage).fn).model_dump()
        props = schema["definitions"]["StageParams"]["properties"]
        undocumented = [name for name, prop in props.items() if not prop.get("description")]
        assert not undocumented, f"stage-{stage}: StageParams fields without a description: {undocumented}"
        assert "absolute" in props["run_uri"]["description"] and props["step"]["description"] == "Training step."


def test_the_run_form_shows_optional_parameters_as_plain_fields():
    from prefect.utilities.callables import parameter_schema

    from flows.deploy import form_schema
    from flows.train import train_flow

    raw = parameter_schema(train_flow).model_dump(exclude_unset=True)
    form = form_schema(raw)
    props = form["properties"]
    assert list(props) == list(raw["properties"])  # same parameters, same order
    for name in ("config", "run_uri", "steps", "config_files", "overrides"):
        assert "anyOf" not in props[name] and "default" not in props[name], props[name]
        assert props[name]["description"] == raw["properties"][name]["description"]
    assert props["config"]["type"] == "object" and props["steps"]["type"] == "integer"
    assert props["overrides"] == {
        **{k: v for k, v in raw["properties"]["overrides"].items() if k not in ("anyOf", "default")},
        "items": {"type": "string"},
        "type": "array",
    }
    assert props["start_step"] == raw["properties"]["start_step"]  # not optional: unchanged, default 0
    assert not form.get("required")  # every field may be left empty

    import jsonschema

    jsonschema.validate({"config_files": ["configs/shapes.yaml"], "steps": 3}, form)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"steps": "three"}, form)
