"""Dispatch groups of the train flow: runs of consecutive stages of one step that may run at the same time.

`orchestration.concurrent_groups` names the stages that may (by default update_planner and update_executor: both
read the step's advantages and their own previous adapter, neither reads the other). The train flow splits its
(stage, step) sequence into groups; a group of two or more runs concurrently when `plotline.concurrency` says
resources allow, else one stage after the other, in sequence order either way.
"""

from __future__ import annotations

from plotline.concurrency import Decision, concurrency_decision, stage_claims, visible_gpus
from plotline.config import ConfigError, PlotlineConfig


def input_edges(reader: str, writer: str) -> list[str]:
    """Input keys through which stage `reader` reads an output of stage `writer` of the same step (a fixed-step
    input counts too: at that step it is the same step)."""
    from stages.base import registry

    return [
        inp.key
        for inp in registry()[reader].inputs
        if inp.stage == writer and (inp.fixed_step is not None or inp.step_offset == 0)
    ]


def check_groups(config: PlotlineConfig) -> None:
    """Fail, naming them, when a concurrent group lists an unregistered stage or a stage that reads another
    stage of its group."""
    from stages.base import registry

    known = registry()
    for group in config.orchestration.concurrent_groups:
        missing = [s for s in group if s not in known]
        if missing:
            raise ConfigError(
                f"orchestration.concurrent_groups {group}: {', '.join(missing)} is not a registered stage"
            )
        for reader in group:
            for writer in group:
                keys = input_edges(reader, writer) if reader != writer else []
                if keys:
                    raise ConfigError(
                        f"orchestration.concurrent_groups {group}: {reader} reads {writer} of the same step "
                        f"(input {', '.join(keys)}), so they cannot run at the same time"
                    )


def split_groups(config: PlotlineConfig, sequence: list[tuple[str, int]]) -> list[list[tuple[str, int]]]:
    """`sequence` cut into dispatch groups, order kept: each maximal run of consecutive entries of one step whose
    stages all belong to one `concurrent_groups` group is one group; every other entry is a group of its own."""
    group_of = {s: i for i, g in enumerate(config.orchestration.concurrent_groups) for s in g}
    out: list[list[tuple[str, int]]] = []
    for name, step in sequence:
        last = out[-1] if out else None
        if (
            last is not None
            and name in group_of
            and last[-1][1] == step
            and group_of.get(last[-1][0]) == group_of[name]
            and name not in {n for n, _ in last}
        ):
            last.append((name, step))
        else:
            out.append([(name, step)])
    return out


def group_decision(config: PlotlineConfig, stages: list[str], gpu_count: int | None = None) -> Decision:
    """Whether the group `stages` runs concurrently under `config` (`gpu_count`: visible GPUs, default: probed)."""
    orch = config.orchestration
    needs_devices = len(stages) > 1 and orch.concurrent_updates == "auto" and orch.mode != "deployments"
    gpus = gpu_count if gpu_count is not None else (visible_gpus() if needs_devices else 0)
    return concurrency_decision(config.orchestration, stages, [stage_claims(config, s, gpus) for s in stages])


STREAMED_GROUP = ("rollout", "score")
"""The stages a streaming score runs together: score reads rollout's parts as they commit (plotline.store.parts)."""


def merge_streamed(config: PlotlineConfig, groups: list[list[tuple[str, int]]]) -> list[list[tuple[str, int]]]:
    """`groups` with each single `rollout` group followed by the same step's single `score` group merged into one
    group, when score streams the rollout (plotline.concurrency.stream_decision); unchanged otherwise."""
    from plotline.concurrency import stream_decision

    if not stream_decision(config).concurrent:
        return groups
    out: list[list[tuple[str, int]]] = []
    for group in groups:
        last = out[-1] if out else None
        if (
            last is not None
            and len(last) == 1
            and len(group) == 1
            and (last[0][0], group[0][0]) == STREAMED_GROUP
            and last[0][1] == group[0][1]
        ):
            last.append(group[0])
        else:
            out.append(list(group))
    return out
