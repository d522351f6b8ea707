"""Streaming score vs batch score, side by side in one run, on a tiny shapes-world run (CPU).

Each trial rolls out and scores one step's plans (pinned from step 0; each trial uses a step of its own so that
nothing is cached) in two ways: `batch` (rollout, then score after the commit) and `streamed` (rollout and score at
the same time in this process, score judging each plan's part as it is published; docs/streaming_score.md).
The shapes world's judges answer in milliseconds, so the trials are run under two values of the benchmark knob
`rewards.emulated_latency_s`: 0 (the in-process judges as they are) and `LATENCY_S` per request (a remote VLM
judge server). The conditions are interleaved. Prints the streamed/batch wall-time ratio of each; below 1 is a
saving. The train flow runs the two stages as child processes, which adds their start-up (about the cost of one
stage's imports) to the streamed side: `stream_score=auto` streams only for remote judges.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

LATENCY_S = 0.1
"""Emulated seconds per judge request in the remote-judge condition."""
OVERRIDES = [
    "world.num_train_instructions=3",
    "world.bootstrap.planner.steps=30",
    "world.bootstrap.planner.sft_instructions=40",
    "world.bootstrap.executor.steps=30",
    "planner.batch_size=8",
    "orchestration.stream_poll_s=0.02",
    "orchestration.gpu_slots=0",  # rollout and score are both GPU stages: one slot would serialise them
]


def _config(root: Path, extra: list[str]):
    from plotline.config import load_config
    from plotline.store import StorageConfig

    cfg = load_config(["configs/shapes.yaml"], OVERRIDES + extra)
    cfg.storage = StorageConfig(root=str(root / "runs"))
    return cfg


def _trial(cfg, run: str, step: int, pins: dict, streamed: bool) -> float:
    """Wall seconds of rollout + score at `step`, one after the other or together."""
    from stages.base import run_stage

    start = time.perf_counter()
    if not streamed:
        run_stage("rollout", cfg, run, step, pinned_inputs=pins, show_progress=False)
        run_stage("score", cfg, run, step, pinned_inputs=pins, show_progress=False)
        return time.perf_counter() - start
    box: dict = {}

    def rollout() -> None:
        try:
            run_stage("rollout", cfg, run, step, pinned_inputs=pins, show_progress=False)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            box["error"] = exc

    thread = threading.Thread(target=rollout, daemon=True)
    thread.start()
    out = run_stage("score", cfg, run, step, pinned_inputs=pins, show_progress=False)
    thread.join()
    if "error" in box:
        raise box["error"]
    assert out.artifact.manifest.summary["stream"]["rollout_attempt"], "score did not stream"
    return time.perf_counter() - start


def main() -> dict[str, float]:
    """Run the interleaved trials; print and return the times and ratios."""
    import torch

    from plotline.store import RunStore
    from stages.base import run_stage

    torch.set_num_threads(1)
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
        root = Path(tmp)
        base = _config(root, [])
        run = str(root / "runs" / "bench")
        for name in ("instructions", "bootstrap", "plan"):
            run_stage(name, base, run, 0, show_progress=False)
        plans = RunStore(run, base.storage).latest("plan", 0)
        assert plans is not None
        pins = {"plans": plans.prefix}
        step = 1
        for latency in (0.0, LATENCY_S):
            times = {}
            for streamed in (False, True):
                mode = "on" if streamed else "off"
                cfg = _config(root, [f"rewards.emulated_latency_s={latency}", f"orchestration.stream_score={mode}"])
                times[streamed] = _trial(cfg, run, step, pins, streamed)
                step += 1
            key = f"{latency * 1000:g}ms"
            out[f"batch_{key}_s"], out[f"streamed_{key}_s"] = times[False], times[True]
            out[f"ratio_{key}"] = times[True] / times[False]
            print(
                f"judge latency {latency * 1000:g} ms/request: batch {times[False]:.2f} s, streamed "
                f"{times[True]:.2f} s, streamed/batch {out[f'ratio_{key}']:.3f}"
            )
    return out


def ratios(out: dict[str, float]) -> dict[str, float]:
    """The summary `make bench` prints."""
    return {
        "streaming score: streamed/batch time, in-process judges": out["ratio_0ms"],
        f"streaming score: streamed/batch time, {LATENCY_S * 1000:g} ms judges": out[f"ratio_{LATENCY_S * 1000:g}ms"],
    }


if __name__ == "__main__":
    main()
