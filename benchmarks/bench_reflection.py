"""Closed loop vs open loop on the shapes default: the temporal-following (TF) score of reflective generation
against open-loop generation of the same checkpoint on the eval split, and what it costs.

Bootstraps the default world (configs/shapes.yaml; or reuses `run`), then runs the evaluate stage with two
conditions on the bootstrap policy — `open_loop` (one pass) and `reflect` (critic after every span, best-of-K
regeneration from the forked cache, replanning, within the `reflect` budget) — for several noise seeds, one video
at a time in both. Prints, per seed and pooled: TF of both, the paired wins/ties/losses, and the compute as
deterministic counts only: chunk generations over one open-loop pass and critic calls per video (a wall-time ratio
of two conditions run one after the other on a shared CPU ranged 1.9–8.5× by seed, so none is reported). Every
number comes from the evaluate artifact's report ("Reflection: score and compute").
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

CONDITIONS = (
    "[{name: open_loop, mode: planner_smooth, checkpoint: base}, "
    "{name: reflect, mode: planner_smooth, checkpoint: base, reflect: true}]"
)
"""The two conditions compared (same checkpoint, same plans, same noise for every span's first candidate)."""


def main(
    seeds: int = 4, run: str | None = None, config: str = "configs/shapes.yaml", overrides: tuple[str, ...] = ()
) -> dict[str, float]:
    """Evaluate open loop vs reflection for `seeds` noise seeds; print the table; return the pooled numbers."""
    import torch

    from plotline.config import load_config
    from stages.base import run_stage

    torch.set_num_threads(1)
    base = [config] if Path(config).is_file() else []
    with tempfile.TemporaryDirectory() as tmp:
        where = run or str(Path(tmp) / "bench")
        cfg = load_config(base, list(overrides))
        t0 = time.perf_counter()
        for name in cfg.orchestration.setup_stages:
            run_stage(name, cfg, where, 0, show_progress=False)
        print(f"setup (instructions, bootstrap): {time.perf_counter() - t0:.0f}s")
        pooled = {
            "open": 0.0,
            "reflect": 0.0,
            "videos": 0,
            "chunks": 0,
            "base": 0,
            "critic": 0,
            "wins": 0,
            "ties": 0,
            "losses": 0,
        }
        print(
            f"{'seed':>4}{'TF open':>9}{'TF refl':>9}{'Δ TF':>9}{'W/T/L':>9}{'chunks×':>9}{'critic/v':>9}"
            f"{'regen':>6}{'replan':>7}{'budget':>7}"
        )
        for seed in range(seeds):
            ev = load_config(
                base,
                [
                    *overrides,
                    f"eval.conditions={CONDITIONS}",
                    "eval.batch_size=1",
                    "eval.write_videos=false",
                    "eval.plots=false",
                    f"eval.seed={seed}",
                ],
            )
            art = run_stage("evaluate", ev, where, 0, show_progress=False).artifact
            tables = json.loads(art.read_bytes("report.json"))
            rows = {r["condition"]: r for r in tables["reflection"]}
            o, r = rows["open_loop"], rows["reflect"]
            p = next(x for x in tables["paired"] if x["condition"] == "reflect" and x["subset"] == r["subset"])
            print(
                f"{seed:>4}{o['tf_score']:>9.4f}{r['tf_score']:>9.4f}{r['tf_delta']:>+9.4f}"
                f"{p['wins']:>3}/{p['ties']}/{p['losses']:<3}{r['chunk_ratio']:>8.3f}"
                f"{r['critic_calls'] / r['videos']:>9.2f}{r['regenerations']:>6}"
                f"{r['replans']:>7}{r['budget_hit_videos']:>7}"
            )
            for key, value in (
                ("open", o["tf_score"] * o["videos"]),
                ("reflect", r["tf_score"] * r["videos"]),
                ("videos", r["videos"]),
                ("chunks", r["chunk_generations"]),
                ("base", r["open_loop_chunks"]),
                ("critic", r["critic_calls"]),
                ("wins", p["wins"]),
                ("ties", p["ties"]),
                ("losses", p["losses"]),
            ):
                pooled[key] += value
    out = {
        "tf_open": pooled["open"] / pooled["videos"],
        "tf_reflect": pooled["reflect"] / pooled["videos"],
        "chunk_ratio": pooled["chunks"] / pooled["base"],
        "critic_calls_per_video": pooled["critic"] / pooled["videos"],
    }
    print(
        f"pooled over {pooled['videos']} videos: TF open {out['tf_open']:.4f} → reflect {out['tf_reflect']:.4f} "
        f"(Δ {out['tf_reflect'] - out['tf_open']:+.4f}; wins/ties/losses {pooled['wins']}/{pooled['ties']}/"
        f"{pooled['losses']}) at ×{out['chunk_ratio']:.2f} chunk generations, {out['critic_calls_per_video']:.2f} "
        f"critic calls per video"
    )
    return out


def ratios(out: dict[str, float]) -> dict[str, float]:
    """The summary `make bench` prints: the deterministic compute counts of reflection."""
    return {
        "reflection: chunk generations / open loop": out["chunk_ratio"],
        "reflection: critic calls per video": out["critic_calls_per_video"],
    }


if __name__ == "__main__":
    import sys

    main(run=sys.argv[1] if len(sys.argv) > 1 else None)
