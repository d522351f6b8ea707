"""Plan shard worker: `python -m plotline.planner.plan_worker spec.json`, started by
`plotline.planner.sharding.sample_sharded` with `CUDA_VISIBLE_DEVICES` pinned to one GPU (or empty for the
CPU). Samples its instructions with `sample_local` and writes the records as JSON. Never touches the store."""
from __future__ import annotations

from pathlib import Path

from plotline.parallel.launch import run_worker, write_json


def main(spec: dict) -> None:
    """Sample this shard's instructions."""
    from plotline.planner.config import PlannerConfig
    from plotline.planner.sampling import Instruction
    from plotline.planner.sharding import sample_local

    config = PlannerConfig.model_validate({**spec["planner"], "device": spec["device"]})
    instructions = [Instruction(*row) for row in spec["instructions"]]
    records = sample_local(config, spec["adapter"], instructions, spec["num_steps"], spec["sample_seed"],
                           spec["lora_seed"])
    write_json(Path(spec["workdir"]) / f"records{spec['shard']}.json", [r.to_row() for r in records])


if __name__ == "__main__":
    run_worker(main)
