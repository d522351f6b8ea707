"""Local sampling end to end: tiny Qwen3 samples M plans, they parse, mask, get fp32 old log-probs, and
round-trip through the plans contract."""

import pyarrow as pa
import pytest
import torch

from data_contracts import get_kind, validate
from plotline.planner.backends import BackendContext, available_backends, make_backend
from plotline.planner.config import PlannerConfig
from plotline.planner.errors import PlannerInputError
from plotline.planner.logprobs import sequence_logprobs
from plotline.planner.model import load_planner
from plotline.planner.records import PlanRecord, check_records
from plotline.planner.sampling import Instruction, record_old_logprobs, sample_plans
from plotline.rl.gspo import sequence_ratio
from plotline.tiny.planner import shape_instructions

J = 2


@pytest.fixture(scope="module")
def planner(tiny_planner_paths):
    return load_planner(tiny_planner_paths[0], tiny_planner_paths[1], trainable=False)


def _sample(planner, **overrides):
    cfg = PlannerConfig(base_model=planner.base_path, num_plans=3, max_new_tokens=40, batch_size=6, **overrides)
    backend = make_backend("local", BackendContext(cfg, planner.tokenizer, planner.adapter_version, planner=planner))
    ins = [Instruction(f"ins-{i}", text) for i, text in enumerate(shape_instructions(2))]
    return cfg, sample_plans(backend, planner.tokenizer, ins, cfg, J, seed=7, context_length=planner.context_length)


def test_registry_lists_both_backends():
    assert {"local", "openai"} <= set(available_backends())
    with pytest.raises(ValueError, match="'nope'"):
        make_backend("nope", BackendContext(PlannerConfig(), None, "base"))


def test_local_sampling_parses_and_round_trips_through_the_contract(planner):
    cfg, records = _sample(planner)
    record_old_logprobs(planner, records)
    check_records(records)
    assert len(records) == 6 and {r.plan_index for r in records} == {0, 1, 2}
    assert all(r.adapter_version == planner.adapter_version for r in records)
    assert sum(r.format_reward > 0 for r in records) >= 4  # the tiny planner was trained to answer in JSON
    for r in records:
        assert len(r.steps) == J and r.smoothed_steps[-1] == r.steps[-1]
        assert len(r.old_logprobs) == len(r.completion_token_ids) and all(x <= 0 for x in r.old_logprobs)
    kind = get_kind("plans")
    table = pa.Table.from_pylist([r.to_row() for r in records], schema=kind.schema)
    report = validate("plans", table, {"M": cfg.num_plans})
    assert report.success, report.format()
    back = [PlanRecord.from_row(row) for row in table.to_pylist()]
    for a, b in zip(records, back):
        assert (a.plan_id, a.steps, a.smoothed_steps, a.completion_token_ids, a.completion_mask) == (
            b.plan_id,
            b.steps,
            b.smoothed_steps,
            b.completion_token_ids,
            b.completion_mask,
        )
        assert torch.allclose(torch.tensor(a.old_logprobs), torch.tensor(b.old_logprobs))
    # an incomplete group is caught by the suite
    bad = validate("plans", table.slice(1), {"M": cfg.num_plans})
    assert not bad.success and any(f.column == "_plans_per_instruction" for f in bad.failures)


def test_same_weights_give_ratio_exactly_one(planner):
    _, records = _sample(planner)
    record_old_logprobs(planner, records)
    again = sequence_logprobs(
        planner.model,
        [r.prompt_token_ids for r in records],
        [r.completion_token_ids for r in records],
        planner.tokenizer.pad_token_id,
    )
    T = max(len(r.completion_token_ids) for r in records)
    pad = lambda rows: torch.tensor([list(x) + [0.0] * (T - len(x)) for x in rows])
    mask = pad([r.completion_mask for r in records])
    old = pad([r.old_logprobs for r in records])
    new = pad(again)
    assert torch.equal(sequence_ratio(new, old, mask), torch.ones(len(records)))


def test_thinking_mode_changes_the_prompt(planner):
    _, off = _sample(planner)
    _, on = _sample(planner, enable_thinking=True)
    text_off = planner.tokenizer.decode(off[0].prompt_token_ids)
    text_on = planner.tokenizer.decode(on[0].prompt_token_ids)
    assert text_off.endswith("<think>\n\n</think>\n\n") and text_on.endswith("<|im_start|>assistant\n")


def test_bad_instructions_name_the_instruction(planner):
    cfg = PlannerConfig(base_model=planner.base_path, num_plans=1, max_new_tokens=8)
    backend = make_backend("local", BackendContext(cfg, planner.tokenizer, planner.adapter_version, planner=planner))
    with pytest.raises(PlannerInputError, match="'blank'.*empty"):
        sample_plans(backend, planner.tokenizer, [Instruction("blank", "  ")], cfg, J, seed=0)
    with pytest.raises(PlannerInputError, match="'huge'.*longer than the allowed"):
        sample_plans(
            backend,
            planner.tokenizer,
            [Instruction("huge", "grows " * 2000)],
            cfg,
            J,
            seed=0,
            context_length=planner.context_length,
        )
