"""Launching worker processes for a stage and turning their failures into the stage's failure.

Two shapes of launch, one worker entry point (`python -m plotline.parallel.worker SPEC.json`) and one spec type
(`plotline.parallel.spec.WorkerSpec`, naming a job kind of `plotline.parallel.jobs`):

- `launch_accelerate`: `accelerate launch` (torchrun underneath) with N data-parallel ranks, one per GPU, or N
  CPU processes talking gloo when the spec's device is `cpu` (`Accelerator(cpu=True)` in the worker; accelerate's
  own `--cpu` flag runs a single process, so CPU ranks are started through the same torchrun path as GPU ranks);
- `run_shards`: N independent worker processes, each pinned to one GPU (`CUDA_VISIBLE_DEVICES`) or to the CPU,
  run concurrently; the first failure stops the others.

Protocol: the parent writes the spec into a temporary work folder and passes its path as the only argument; the
worker sets its thread count, runs the job and writes the job's JSON result to `results/shard<i>.json` (rank 0
only under accelerate), or, on an exception, writes `errors/rank<r>.json` (type, message, traceback) before
exiting non-zero. The parent re-raises the earliest reported error as the worker's own exception class when it
is one of ours (so callers can catch `AdapterVersionMismatch` etc. as in a single process), chained to a
`WorkerError` that carries the traceback. Workers never touch the store and never commit; the parent reads what
they wrote.

Progress: every rank's `WorkerContext.reporter` writes `progress/rank<r>-<n>.json`; with a `progress` factory the
parent forwards those reports while it waits (to `progress("shard <i> <description>")` for shards,
`progress("rank <r> <description>")` for accelerate ranks; see `plotline.parallel.progress`), and once more after
the workers exit, before it returns their results.
"""

from __future__ import annotations

import builtins
import importlib
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from plotline.parallel.progress import ProgressFactory, ProgressPoller, make_poller
from plotline.parallel.spec import WorkerSpec

THREADS_ENV = "PLOTLINE_WORKER_THREADS"
"""Environment variable holding the torch intra-op thread count of a worker."""
RANK_ENV = "PLOTLINE_WORKER_RANK"
"""Environment variable holding a shard worker's index (accelerate ranks use RANK)."""
WORKER_MODULE = "plotline.parallel.worker"
"""The one worker entry point every launch runs (`python -m plotline.parallel.worker SPEC.json`)."""
_REPO_ROOT = str(Path(__file__).resolve().parents[2])


class WorkerError(RuntimeError):
    """A worker process failed; the message names the launch and rank and holds the worker's error text."""


def worker_threads(num_workers: int) -> int:
    """Torch threads per worker: this process's thread count shared out (at least 1), so N workers on one
    machine do not oversubscribe its cores (tests run with 1 thread, so workers get 1)."""
    import torch

    return max(1, torch.get_num_threads() // max(1, num_workers))


def uses_cuda(device: str) -> bool:
    """Whether a config's device setting (`auto`, `cpu`, `cuda`, `cuda:1`, ...) means GPUs here."""
    if device == "cpu":
        return False
    if device == "auto":
        import torch

        return torch.cuda.is_available()
    return device.startswith("cuda")


def shard_devices(num_shards: int, device: str, pinned: Sequence[int] | None = None) -> list[str | None]:
    """The CUDA device index (as a string) each shard is pinned to, or None for a CPU shard.

    `device` is the role's device setting; `pinned` lists GPU indices to use round-robin (default: every
    visible GPU). A CPU setting, or no CUDA, puts every shard on the CPU.
    """
    if not uses_cuda(device):
        return [None] * num_shards
    import torch

    ids = list(pinned) if pinned else list(range(torch.cuda.device_count()))
    if not ids:
        raise RuntimeError(f"device {device!r} asks for CUDA, but no CUDA device is visible")
    return [str(ids[i % len(ids)]) for i in range(num_shards)]


def write_json(path: str | Path, obj: Any) -> Path:
    """Write `obj` as JSON (floats round-trip exactly) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


def read_json(path: str | Path) -> Any:
    """Read a JSON file written by `write_json`."""
    return json.loads(Path(path).read_text())


def _worker_env(threads: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "OMP_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads),
            THREADS_ENV: str(threads),
            "TOKENIZERS_PARALLELISM": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env["PYTHONPATH"] = os.pathsep.join([_REPO_ROOT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.update(extra or {})
    return env


def accelerate_command(spec_path: str | Path, num_processes: int, port: int, threads: int) -> list[str]:
    """`accelerate launch` of the worker entry point on `spec_path` with `num_processes` ranks on this machine."""
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        str(num_processes),
        "--num_machines",
        "1",
        "--machine_rank",
        "0",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(port),
        "--num_cpu_threads_per_process",
        str(threads),
        "-m",
        WORKER_MODULE,
        str(spec_path),
    ]


def result_path(workdir: str | Path, shard: int) -> Path:
    """Where the worker of shard `shard` (rank 0 under accelerate) writes its job's result."""
    return Path(workdir) / "results" / f"shard{shard}.json"


def launch_accelerate(
    spec: WorkerSpec,
    workdir: str | Path,
    num_processes: int,
    *,
    what: str,
    timeout_s: float | None = None,
    progress: ProgressFactory | None = None,
) -> Any:
    """Run the spec's job under `accelerate launch` with `num_processes` ranks (CPU ranks with gloo when the spec's
    device is `cpu`) and wait; return rank 0's result, or raise the first rank's error (see module docstring) when
    any rank fails. The spec is written to `workdir/spec.json` with the work folder and launcher filled in. Every
    rank's progress goes to `progress("rank <r> <description>")` while the launch runs."""
    from plotline.net import free_port

    if num_processes < 2:
        raise ValueError(f"{what}: launch_accelerate needs at least 2 processes, got {num_processes}")
    workdir = Path(workdir)
    cpu = spec.device == "cpu"
    if not cpu:
        import torch

        visible = torch.cuda.device_count()
        if visible < num_processes:
            raise RuntimeError(
                f"{what}: {num_processes} processes need {num_processes} GPUs, {visible} visible "
                "(set the role's device to `cpu` for CPU processes)"
            )
    spec = spec.model_copy(
        update={"workdir": str(workdir), "shard": 0, "num_shards": num_processes, "launcher": "accelerate"}
    )
    spec_path = write_json(workdir / "spec.json", spec.model_dump(mode="json"))
    threads = worker_threads(num_processes)
    extra = {"ACCELERATE_USE_CPU": "true", "CUDA_VISIBLE_DEVICES": ""} if cpu else {}
    cmd = accelerate_command(spec_path, num_processes, free_port(), threads)
    log = workdir / "launch.log"
    poller = make_poller(workdir, "rank", progress)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=_worker_env(threads, extra), start_new_session=True
        )
        rc = _wait(proc, timeout_s, what, poller.poll if poller is not None else None)
    if rc != 0:
        raise_failure(workdir, what, rc, [log])
    _final_poll(poller)
    return read_json(result_path(workdir, 0))


def run_shards(
    specs: Sequence[WorkerSpec],
    devices: Sequence[str | None],
    workdir: str | Path,
    *,
    what: str,
    timeout_s: float | None = None,
    progress: ProgressFactory | None = None,
) -> list[Any]:
    """Run one worker process per spec concurrently, shard i pinned to GPU `devices[i]` (None: CPU, with CUDA
    hidden); wait for all and return their results in shard order; on the first failure stop the others and raise
    that shard's error. Shard i's progress goes to `progress("shard <i> <description>")` while they run."""
    workdir = Path(workdir)
    threads = worker_threads(len(specs))
    poller = make_poller(workdir, "shard", progress)
    procs, logs = [], []
    try:
        for i, (spec, dev) in enumerate(zip(specs, devices, strict=True)):
            spec = spec.model_copy(
                update={
                    "workdir": str(workdir),
                    "shard": i,
                    "num_shards": len(specs),
                    "device": "cpu" if dev is None else "cuda",
                    "launcher": "process",
                }
            )
            spec_path = write_json(workdir / f"spec{i}.json", spec.model_dump(mode="json"))
            log = workdir / f"shard{i}.log"
            logs.append(log)
            env = _worker_env(threads, {"CUDA_VISIBLE_DEVICES": "" if dev is None else dev, RANK_ENV: str(i)})
            with open(log, "wb") as out:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", WORKER_MODULE, str(spec_path)],
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        env=env,
                        start_new_session=True,
                    )
                )
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        pending = list(procs)
        while pending:
            for p in list(pending):
                rc = p.poll()
                if rc is None:
                    continue
                pending.remove(p)
                if rc != 0:
                    _stop(pending)
                    raise_failure(workdir, what, rc, logs)
            if deadline is not None and time.monotonic() > deadline:
                _stop(pending)
                raise WorkerError(f"{what}: shards still running after {timeout_s:.0f} s; stopped")
            if poller is not None:
                poller.poll()
            time.sleep(0.05)
    finally:
        _stop([p for p in procs if p.poll() is None])
    _final_poll(poller)
    return [read_json(result_path(workdir, i)) for i in range(len(specs))]


def _final_poll(poller: ProgressPoller | None) -> None:
    """Forward the workers' last reports (they have exited, so every file holds its final state)."""
    if poller is not None:
        poller.poll()


def _wait(
    proc: subprocess.Popen, timeout_s: float | None, what: str, on_tick: Callable[[], object] | None = None
) -> int:
    """Wait for `proc` (calling `on_tick` every 50 ms while it runs) and return its exit code; past `timeout_s`
    stop it and raise WorkerError; on any other exception (an interrupt) stop it and re-raise."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    try:
        while (rc := proc.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                break
            if on_tick is not None:
                on_tick()
            time.sleep(0.05)
    except BaseException:
        _stop([proc])
        raise
    if rc is None:
        _stop([proc])
        raise WorkerError(f"{what}: still running after {timeout_s:.0f} s; stopped")
    return rc


def _stop(procs: Sequence[subprocess.Popen]) -> None:
    """Terminate each process's own session (the worker and anything it started), then kill stragglers."""
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            p.wait()


def _tail(paths: Sequence[Path], chars: int = 12000) -> str:
    parts = []
    for p in paths:
        if p.is_file():
            text = p.read_text(errors="replace")
            parts.append(f"--- {p.name} ---\n{text[-chars:]}")
    return "\n".join(parts)


def _exception_class(qualified: str) -> type[BaseException] | None:
    """The class named `module.Qualname` when it is one of ours or a builtin exception; else None."""
    module, _, name = qualified.rpartition(".")
    if module == "builtins":
        cls = getattr(builtins, name, None)
    elif module.split(".")[0] in ("plotline", "data_contracts"):
        try:
            cls = importlib.import_module(module)
            for part in name.split("."):
                cls = getattr(cls, part)
        except (ImportError, AttributeError):
            return None
    else:
        return None
    return cls if isinstance(cls, type) and issubclass(cls, Exception) else None


def raise_failure(workdir: str | Path, what: str, rc: int, logs: Sequence[Path] = ()) -> None:
    """Raise the earliest error a worker reported under `workdir/errors/` (as its own class when possible,
    chained to a WorkerError with the traceback), or a WorkerError with the logs' tail when none reported."""
    records = []
    for path in sorted(Path(workdir, "errors").glob("*.json")):
        try:
            records.append(read_json(path))
        except (OSError, ValueError):
            continue
    if not records:
        raise WorkerError(f"{what} failed (exit code {rc}) without reporting an error; output:\n{_tail(list(logs))}")
    first = min(records, key=lambda r: r.get("time", 0.0))
    where = f"{what} rank {first['rank']}"
    others = sorted(r["rank"] for r in records if r is not first)
    detail = f"{where} failed: {first['type']}: {first['message']}\n{first['traceback']}" + (
        f"(ranks {others} failed after it)" if others else ""
    )
    cause = WorkerError(detail)
    cls = _exception_class(first["type"])
    exc: BaseException | None = None
    if cls is not None:
        try:
            exc = cls(first["message"])
        except Exception:  # noqa: BLE001 - a constructor with another signature
            exc = None
    if exc is None:
        raise cause
    exc.add_note(f"raised in {where}")
    raise exc from cause


def worker_rank() -> int:
    """This worker's rank: RANK under accelerate/torchrun, else the shard index, else 0."""
    return int(os.environ.get("RANK", os.environ.get(RANK_ENV, "0")))


def report_error(workdir: str | Path, exc: BaseException) -> None:
    """Write this rank's error record into `workdir/errors/rank<r>.json`."""
    rank = worker_rank()
    cls = type(exc)
    write_json(
        Path(workdir) / "errors" / f"rank{rank}.json",
        {
            "rank": rank,
            "type": f"{cls.__module__}.{cls.__qualname__}",
            "message": str(exc),
            "traceback": "".join(traceback.format_exception(exc)),
            "time": time.time(),
        },
    )
