"""Data-parallel worker of the update_planner stage: `accelerate launch -m plotline.rl.gspo_worker spec.json`.

The stage (`launch_planner_update`) passes local paths of the verified inputs; every rank runs
`run_planner_update` with an `AccelerateCollective`; rank 0 writes the adapter into `out_dir` and `result.json`
into the work folder. Workers never touch the store.
"""
from __future__ import annotations

from pathlib import Path

from plotline.config import PlotlineConfig
from plotline.parallel.launch import launch_accelerate, read_json, run_worker, uses_cuda, write_json
from plotline.rl.update_result import UpdateResult

MODULE = "plotline.rl.gspo_worker"


def launch_planner_update(config: PlotlineConfig, inputs: dict, out_dir: str | Path, workdir: str | Path,
                          timeout_s: float | None = None) -> UpdateResult:
    """Run the update with `config.rl.planner.num_processes` ranks and return rank 0's result.

    `inputs`: `plans_table`, `advantages_table` (local Parquet paths), `adapter` (local folder or None),
    `lora_seed`, `gspo_seed`. GPUs are used unless `planner.device` is `cpu` or none is visible (then CPU ranks
    with gloo).
    """
    spec = {"config": config.model_dump(mode="json"), "inputs": inputs, "out_dir": str(out_dir)}
    launch_accelerate(MODULE, spec, workdir, config.rl.planner.num_processes,
                      cpu=not uses_cuda(config.planner.device), what="update_planner", timeout_s=timeout_s)
    return UpdateResult.from_json(read_json(Path(workdir) / "result.json"))


def main(spec: dict) -> None:
    """One rank: read the inputs from local files, train, and (rank 0) write the result."""
    import pyarrow.parquet as pq
    from accelerate import Accelerator

    from plotline.parallel.collective import AccelerateCollective
    from plotline.rl.gspo_job import PlannerUpdateInputs, run_planner_update

    accelerator = Accelerator(cpu=spec["cpu"])
    coll = AccelerateCollective(accelerator)
    config = PlotlineConfig.model_validate(spec["config"])
    ins = spec["inputs"]
    inputs = PlannerUpdateInputs(plans=pq.read_table(ins["plans_table"]).to_pylist(),
                                 advantages=pq.read_table(ins["advantages_table"]).to_pylist(),
                                 adapter=ins["adapter"], lora_seed=int(ins["lora_seed"]),
                                 gspo_seed=int(ins["gspo_seed"]))
    result = run_planner_update(config, inputs, spec["out_dir"], collective=coll, device=str(accelerator.device))
    if coll.is_main:
        write_json(Path(spec["workdir"]) / "result.json", result.to_json())
    accelerator.wait_for_everyone()  # no rank tears the process group down while another still uses it
    accelerator.end_training()


if __name__ == "__main__":
    run_worker(main)
