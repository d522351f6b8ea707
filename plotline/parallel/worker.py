"""The one worker entry point: `python -m plotline.parallel.worker SPEC.json` (directly for a shard process, under
`accelerate launch -m` for a data-parallel rank).

Reads the `WorkerSpec`, sets torch's thread count, imports the module that registers the spec's job kind, builds
the collective (an `Accelerator` for `accelerate` launches, gloo on CPU, NCCL on GPUs; the identity otherwise),
runs the job and, on the main rank, writes its return value to `<workdir>/results/shard<i>.json`. On an exception
it writes `<workdir>/errors/rank<r>.json` (see `plotline.parallel.launch.report_error`) and exits with status 1.
Workers never touch the store and never commit.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from plotline.parallel.collective import AccelerateCollective, Collective
from plotline.parallel.jobs import WorkerContext, get_job
from plotline.parallel.launch import THREADS_ENV, WORKER_MODULE, report_error, result_path, write_json
from plotline.parallel.spec import WorkerSpec, read_spec


def run_spec(spec: WorkerSpec) -> Any:
    """Run the spec's job in this process (see the module docstring) and return its result; the main rank also
    writes the result into the work folder."""
    importlib.import_module(spec.module)
    job = get_job(spec.kind)
    if job.module != spec.module:
        raise ValueError(f"worker spec: job kind {spec.kind!r} is registered by {job.module}, not {spec.module}")
    accelerator = None
    if spec.launcher == "accelerate":
        from accelerate import Accelerator

        accelerator = Accelerator(cpu=spec.device == "cpu")
        coll: Collective = AccelerateCollective(accelerator)
        device = str(accelerator.device)
    else:
        coll, device = Collective(), spec.device
    ctx = WorkerContext(spec, coll, device)
    result = job.run(ctx)
    ctx.flush_progress()  # the last report of every task reaches the parent, even a throttled one
    if coll.is_main and spec.workdir:
        write_json(result_path(spec.workdir, spec.shard), result)
    if accelerator is not None:
        accelerator.wait_for_everyone()  # no rank tears the process group down while another still uses it
        accelerator.end_training()
    return result


def _workdir_of(path: str) -> str | None:
    """The work folder named in a spec file, read leniently so an invalid spec can still report its error."""
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return (raw.get("workdir") or None) if isinstance(raw, dict) else None


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the spec named by argv[1]; on an exception report it and exit with status 1."""
    argv = list(sys.argv if argv is None else argv)
    if len(argv) != 2:
        raise SystemExit(f"usage: python -m {WORKER_MODULE} SPEC.json (got {argv[1:]})")
    import torch

    torch.set_num_threads(int(os.environ.get(THREADS_ENV, "1")))
    try:
        run_spec(read_spec(argv[1]))
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the parent
        workdir = _workdir_of(argv[1])
        if workdir is not None:
            report_error(workdir, exc)
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)  # skip interpreter teardown: peers may be blocked in a collective


if __name__ == "__main__":
    main()
