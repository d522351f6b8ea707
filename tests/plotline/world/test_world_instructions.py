"""Instruction generator: determinism, phrasings, ground-truth steps, held-out splits, the `world` source."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest
from pydantic import ValidationError

from plotline.world.config import WorldConfig
from plotline.world.instructions import (
    combinations_of,
    generate_instructions,
    heldout_combinations,
    instruction_rows,
    possible_combinations,
)
from plotline.world.parse import parse_events, parse_text
from plotline.world.phrasing import PHRASINGS, phrase_instruction


def test_generation_is_deterministic_and_seeded(world_config):
    a = instruction_rows(world_config)
    b = instruction_rows(world_config.model_copy())
    assert a == b
    other = instruction_rows(world_config.model_copy(update={"seed": 8}))
    assert [r["prompt"] for r in other] != [r["prompt"] for r in a]


def test_rows_follow_the_instructions_contract(world_config):
    from data_contracts.kinds.instructions import KIND

    rows = instruction_rows(world_config)
    table = pa.Table.from_pylist(rows, schema=KIND.schema)
    assert table.num_rows == world_config.num_train_instructions + world_config.num_eval_instructions
    ids = [r["instruction_id"] for r in rows]
    assert len(set(ids)) == len(ids)
    assert len({r["prompt"] for r in rows}) == len(rows)
    assert {r["split"] for r in rows} == {"train", "eval"}
    assert all(r["source"] == "world" and r["category"] == f"{len(r['steps'])}-step" for r in rows)


def test_steps_range_and_counts(instructions, world_config):
    counts = {len(i.steps) for i in instructions}
    assert counts <= set(range(world_config.min_steps, world_config.max_steps + 1))
    assert {1, 2, 3, 4} <= counts
    two_three = WorldConfig(min_steps=2, max_steps=3, num_train_instructions=20, num_eval_instructions=4)
    assert {len(i.steps) for i in generate_instructions(two_three)} <= {2, 3}


def test_every_phrasing_is_used_and_parses_back_in_order(instructions):
    assert {i.phrasing for i in instructions} == set(PHRASINGS)
    for inst in instructions:
        assert parse_events(inst.prompt) == list(inst.scenario.events), inst.prompt
        parsed = parse_text(inst.prompt)
        assert (parsed.shape, parsed.colour) == (inst.scenario.initial.shape, inst.scenario.initial.colour)


def test_ground_truth_steps_are_one_visual_caption_per_event(instructions):
    caption = re.compile(r"^a (red|green|blue|yellow|purple|cyan) (square|circle|triangle) [a-z ]+$")
    for inst in instructions:
        assert len(inst.steps) == len(inst.scenario.events)
        for step, event in zip(inst.steps, inst.scenario.events):
            assert caption.match(step), step
            assert parse_events(step) == [event]


def test_phrasing_templates():
    events = ["move_right", "turn_blue", "grow"]
    assert (
        phrase_instruction("first_then", "red square", events)
        == "First a red square moves to the right, then it turns blue, and finally it grows."
    )
    assert (
        phrase_instruction("comma_then", "red square", events)
        == "A red square moves to the right, then turns blue, then grows."
    )
    assert (
        phrase_instruction("after", "red square", events[:2]) == "After a red square moves to the right, it turns blue."
    )
    assert (
        phrase_instruction("sentence", "red square", events) == "A red square moves to the right, turns blue and grows."
    )
    assert phrase_instruction("first_then", "red square", events[:1]) is None


def test_heldout_combinations_only_in_eval(instructions, world_config):
    heldout = heldout_combinations(world_config)
    assert 0 < len(heldout) < len(possible_combinations(world_config))
    train = [i for i in instructions if i.split == "train"]
    evals = [i for i in instructions if i.split == "eval"]
    assert len(train) == world_config.num_train_instructions and len(evals) == world_config.num_eval_instructions
    assert all(not (combinations_of(i.scenario) & heldout) for i in train)
    assert all(combinations_of(i.scenario) & heldout for i in evals)
    assert not {i.prompt for i in train} & {i.prompt for i in evals}


def test_events_are_possible_and_stay_in_frame(instructions, world_config):
    from plotline.world.actions import get_action
    from plotline.world.state import Geometry

    g = Geometry.from_config(world_config)
    for inst in instructions:
        states = inst.scenario.states(g)
        for before, event in zip(states, inst.scenario.events):
            assert get_action(event).possible(before)
        for s in states:
            assert 0 <= s.x - s.size / 2 and s.x + s.size / 2 <= g.width
            assert 0 <= s.y - s.size / 2 and s.y + s.size / 2 <= g.height
            assert g.min_size - 1e-9 <= s.size <= g.max_size + 1e-9
        assert all(a != b for a, b in zip(inst.scenario.events, inst.scenario.events[1:]))


def test_world_source_is_found_lazily():
    from plotline.config import PlotlineConfig
    from plotline.data.sources import get_source

    config = PlotlineConfig.model_validate({"world": {"num_train_instructions": 5, "num_eval_instructions": 2}})
    source = get_source("world")
    assert source.sections == ("world",)
    rows = source.read(config.world)
    assert len(rows) == 7 and rows == instruction_rows(config.world)


@pytest.mark.parametrize(
    "bad",
    [
        {"min_steps": 3, "max_steps": 2},
        {"colours": ["red", "mauve"]},
        {"shapes": []},
        {"phrasings": ["limerick"]},
        {"unknown_key": 1},
    ],
)
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValidationError):
        WorldConfig(**bad)


def test_config_fields_are_documented():
    for name, field in WorldConfig.model_fields.items():
        assert field.description, f"WorldConfig.{name} has no docstring"
