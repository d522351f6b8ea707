"""Rollout shard worker: `python -m plotline.executor.rollout_worker spec.json`, started by
`plotline.executor.sharding.run_rollout_shards` with `CUDA_VISIBLE_DEVICES` pinned to one GPU (or empty for
the CPU). Builds the executor, attaches the adapter (asserting the version the stage recorded), rolls out its
jobs and writes each plan's output into the shared result folder. Never touches the store."""
from __future__ import annotations

from plotline.parallel.launch import run_worker


def main(spec: dict) -> None:
    """Roll out this shard's jobs."""
    from plotline.config import PlotlineConfig
    from plotline.executor.executor import build_executor
    from plotline.executor.sharding import RolloutJob, attach_policy, roll_job, save_output

    config = PlotlineConfig.model_validate(spec["config"])
    ex = build_executor(config.executor, config.video, device=spec["device"])
    version = attach_policy(ex, spec["adapter_dir"])
    if version != spec["version"]:
        raise RuntimeError(f"shard {spec['shard']}: the adapter at {spec['adapter_dir']} is version {version!r}, "
                           f"but the rollout stage expected {spec['version']!r}")
    for job in spec["jobs"]:
        j = RolloutJob(**job)
        save_output(roll_job(ex, j, config, version), spec["out_dir"], j.index)


if __name__ == "__main__":
    run_worker(main)
