"""Judge throughput: concurrent vs sequential requests against the same local OpenAI-compatible server.

Starts `transformers serve` on loopback with a tiny Qwen3 (built from a config, no downloads), sends the same
batch of plan-judge requests once with max_concurrency=1 and once with max_concurrency=C, and prints both
throughputs and their ratio. One run, well under a minute on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import tempfile
import time


def main(argv: list[str] | None = None) -> float:
    """Run the benchmark against a plain and a continuous-batching server; prints side-by-side tables and
    returns the concurrent/sequential throughput ratio of the continuous-batching server."""
    from plotline.rewards.config import RewardsConfig
    from plotline.rewards.judges.base import JudgeRequest
    from plotline.rewards.judges.openai_backend import OpenAIJudgeBackend
    from plotline.rewards.prompts import plan_judge_prompt
    from plotline.rewards.serve import transformers_serve
    from plotline.tiny.lm import build_tiny_qwen3

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args(argv if argv is not None else [])

    ratios = {}
    with tempfile.TemporaryDirectory() as tmp:
        model = str(build_tiny_qwen3(f"{tmp}/model"))
        requests = []
        for i in range(args.requests):
            system, user = plan_judge_prompt(
                f"instruction {i}: a square moves right, then turns blue",
                ["A square on the left.", "The square moves right and turns blue."],
            )
            requests.append(JudgeRequest("plan", model, system, user))
        print(
            f"judge throughput: {args.requests} plan-judge requests, {args.max_tokens} max tokens, "
            f"`transformers serve` + tiny Qwen3 on loopback (CPU, 1 torch thread)"
        )
        for label, batching in (("plain server", False), ("continuous batching", True)):
            with transformers_serve(model, continuous_batching=batching) as url:
                config = RewardsConfig.model_validate(
                    {
                        "openai": {"base_url": url, "timeout_s": 30},
                        "models": {"max_tokens": args.max_tokens, "temperature": 1.0},
                    }
                )
                OpenAIJudgeBackend(config, max_concurrency=1).complete(requests[:1])  # warm-up
                rows = []
                for conc in (1, args.concurrency):
                    backend = OpenAIJudgeBackend(config, max_concurrency=conc)
                    start = time.perf_counter()
                    responses = backend.complete(requests)
                    wall = time.perf_counter() - start
                    ok = sum(r.ok for r in responses)
                    rows.append((wall, ok / wall, ok))
            (seq_wall, seq_tp, seq_ok), (con_wall, con_tp, con_ok) = rows
            ratios[label] = con_tp / seq_tp
            print(f"\n[{label}]")
            print(f"{'':14}{'sequential':>14}{f'concurrent x{args.concurrency}':>18}")
            print(f"{'wall (s)':14}{seq_wall:>14.2f}{con_wall:>18.2f}")
            print(f"{'requests/s':14}{seq_tp:>14.2f}{con_tp:>18.2f}")
            print(f"{'ok replies':14}{seq_ok:>14d}{con_ok:>18d}")
            print(f"ratio concurrent/sequential: {ratios[label]:.2f}x")
    ratio = ratios["continuous batching"]
    return ratio


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
