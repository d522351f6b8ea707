"""Names of the stage deployments: `stage-<name>/<title> (<orchestration.deployment_name>)`, one title per stage,
so the Prefect UI's deployment list tells the stages apart (it shows the title above the flow name `stage-<name>`,
cut after about 20 characters: the title comes first, the namespace last). `plotline deploy` registers them under these names
and `deployments` mode starts them by the same names (flows/dispatch.py)."""

from __future__ import annotations

from plotline.stage_names import STAGES

STAGE_TITLES: dict[str, str] = {s.name: s.title for s in STAGES}
"""Built-in stage → its deployment title (plotline/stage_names.py)."""


def stage_title(stage: str) -> str:
    """The short title of a stage's deployment: the built-in stage's title, `plugin stage <name>` otherwise."""
    return STAGE_TITLES.get(stage, f"plugin stage {stage}")


def stage_deployment_name(stage: str, deployment_name: str) -> str:
    """Deployment name of `stage` under the namespace `deployment_name` (orchestration.deployment_name):
    `<title> (<deployment_name>)`, e.g. `sample plans (plotline)` for the plan stage."""
    return f"{stage_title(stage)} ({deployment_name})"
