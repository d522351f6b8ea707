"""Plan-sampling throughput: batched `generate` over prompts × plans vs one prompt at a time (tiny planner, CPU).

Run: `python -m benchmarks.bench_plan_sampling` (or `python benchmarks/bench_plan_sampling.py`). Prints plans/s
of both modes side by side and their ratio. Numbers are from one run on this machine, not a timed test.
"""

from __future__ import annotations

import time


def _throughput(planner, cfg, instructions, batch_size: int, num_steps: int = 2) -> float:
    from plotline.planner.backends import BackendContext
    from plotline.planner.backends.local import LocalSampler
    from plotline.planner.sampling import sample_plans

    sampler = LocalSampler(
        BackendContext(cfg, planner.tokenizer, planner.adapter_version, planner=planner), batch_size=batch_size
    )
    start = time.perf_counter()
    records = sample_plans(sampler, planner.tokenizer, instructions, cfg, num_steps, seed=0)
    return len(records) / (time.perf_counter() - start)


def main() -> None:
    """Build the tiny planner, then time batched vs one-at-a-time sampling of M plans for a few instructions."""
    import tempfile
    from pathlib import Path

    from plotline.planner.config import PlannerConfig
    from plotline.planner.model import load_planner
    from plotline.planner.sampling import Instruction
    from plotline.tiny.planner import build_tiny_planner_base, shape_instructions, torch_threads

    with torch_threads(1), tempfile.TemporaryDirectory() as tmp:
        base = build_tiny_planner_base(Path(tmp) / "base", steps=30)
        planner = load_planner(base, None, trainable=False)
        cfg = PlannerConfig(base_model=str(base), num_plans=4, max_new_tokens=32, top_p=1.0)
        instructions = [Instruction(f"i{k}", s) for k, s in enumerate(shape_instructions(4))]
        n = len(instructions) * cfg.num_plans
        _throughput(planner, cfg, instructions[:1], batch_size=n)  # warm-up
        batched = _throughput(planner, cfg, instructions, batch_size=n)
        single = _throughput(planner, cfg, instructions, batch_size=1)
    print(f"plan sampling ({n} plans, max_new_tokens={cfg.max_new_tokens}, tiny Qwen3, 1 CPU thread)")
    print(f"  batched (prompts x plans = {n} per generate): {batched:8.1f} plans/s")
    print(f"  one prompt at a time                   : {single:8.1f} plans/s")
    print(f"  ratio batched / one-at-a-time          : {batched / single:8.2f}x")


if __name__ == "__main__":
    main()
