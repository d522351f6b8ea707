"""GSPO learns: on a verifiable reward (exactly J steps, every step says "slowly") a few dozen CPU updates of
the tiny planner's LoRA raise the mean reward clearly (fixed seeds)."""

import torch

from plotline.planner.backends import BackendContext, make_backend
from plotline.planner.config import PlannerConfig, PlannerLoraConfig
from plotline.planner.model import load_planner
from plotline.planner.sampling import Instruction, record_old_logprobs, sample_plans
from plotline.planner.training import gspo_step, make_optimizer
from plotline.rl.gspo_config import GSPOConfig
from plotline.tiny.planner import cached_tiny_planner, shape_instructions, torch_threads

J, WORD, UPDATES = 2, "slowly", 24


def verifiable_reward(record) -> float:
    """1 when the plan has exactly J steps and each mentions WORD, else 0."""
    return float(record.parse_status == "ok" and all(WORD in s for s in record.steps))


def group_advantages(records, rewards):
    adv = {}
    for iid in {r.instruction_id for r in records}:
        group = [r for r in records if r.instruction_id == iid]
        v = torch.tensor([rewards[r.plan_id] for r in group])
        for r in group:
            adv[r.plan_id] = float((rewards[r.plan_id] - v.mean()) / (v.std() + 1e-4))
    return adv


def test_gspo_raises_a_verifiable_reward():
    with torch_threads(1):
        base, _ = cached_tiny_planner()
        planner = load_planner(base, None, trainable=True, lora=PlannerLoraConfig(rank=8, alpha=16), seed=0)
        cfg = PlannerConfig(base_model=str(base), num_plans=8, max_new_tokens=40, batch_size=32, top_p=1.0)
        gspo = GSPOConfig(learning_rate=3e-3, kl_coef=0.01, reference="start", mini_batch_size=32, micro_batch_size=16)
        optimizer = make_optimizer(planner, gspo)
        backend = make_backend(
            "local", BackendContext(cfg, planner.tokenizer, planner.adapter_version, planner=planner)
        )
        instructions = [Instruction(f"i{k}", s) for k, s in enumerate(shape_instructions())]
        history = []
        for update in range(UPDATES):
            records = sample_plans(backend, planner.tokenizer, instructions, cfg, J, seed=100 + update)
            record_old_logprobs(planner, records)
            rewards = {r.plan_id: verifiable_reward(r) for r in records}
            history.append(sum(rewards.values()) / len(rewards))
            metrics = gspo_step(
                planner, records, group_advantages(records, rewards), gspo, optimizer=optimizer, seed=update
            )
            assert len(metrics) == 1 and abs(metrics[0]["ratio"] - 1.0) < 1e-5  # on-policy: ratio 1
        before, after = sum(history[:4]) / 4, sum(history[-4:]) / 4
        print(f"mean reward first 4 updates {before:.3f} -> last 4 updates {after:.3f}")
        assert after >= before + 0.3 and after >= 0.6, history
