"""Instruction generator: deterministic from the world seed; train/eval splits with held-out combinations.

A combination is (shape, family of an event, family of the next event), e.g. ("circle", "turn", "grow").
A seeded share of the possible combinations is held out: training instructions never contain one, every
eval instruction contains at least one (when instructions have two or more events)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import product

from plotline.world.actions import families, get_action
from plotline.world.config import WorldConfig
from plotline.world.phrasing import phrase_instruction, step_caption
from plotline.world.scenario import sample_scenario
from plotline.world.state import Geometry, Scenario

Combination = tuple[str, str, str]


@dataclass(frozen=True)
class WorldInstruction:
    """One generated instruction with its ground truth."""

    instruction_id: str
    prompt: str
    steps: tuple[str, ...]
    split: str
    phrasing: str
    scenario: Scenario

    @property
    def category(self) -> str:
        """Category label of the instructions artifact: the number of events."""
        return f"{len(self.steps)}-step"

    def row(self) -> dict:
        """A row of the `instructions` contract."""
        return {
            "instruction_id": self.instruction_id,
            "prompt": self.prompt,
            "category": self.category,
            "split": self.split,
            "steps": list(self.steps),
            "source": "world",
        }


def _pair_possible(a: str, b: str) -> bool:
    if a == "disappear":
        return b == "appear"
    if b == "appear":
        return a == "disappear"
    return a != b or a == "turn"


def possible_combinations(config: WorldConfig) -> list[Combination]:
    """Every (shape, family, next family) that some scenario of this config can contain."""
    fams = families()
    return [(s, a, b) for s, a, b in product(config.shapes, fams, fams) if _pair_possible(a, b)]


def heldout_combinations(config: WorldConfig) -> frozenset[Combination]:
    """The seeded held-out set: round(heldout_fraction × #possible) combinations (eval only)."""
    combos = possible_combinations(config)
    k = round(config.heldout_fraction * len(combos))
    return frozenset(random.Random(f"{config.seed}/heldout").sample(combos, k))


def combinations_of(scenario: Scenario) -> set[Combination]:
    """The (shape, family, next family) combinations in a scenario's event sequence."""
    fam = [get_action(e).family for e in scenario.events]
    return {(scenario.initial.shape, a, b) for a, b in zip(fam, fam[1:])}


def ground_truth_steps(scenario: Scenario, geometry: Geometry | None = None) -> tuple[str, ...]:
    """One caption per event, each said of the object's state just before that event."""
    states = scenario.states(geometry or Geometry(100, 100))
    return tuple(step_caption(states[j], e) for j, e in enumerate(scenario.events))


def make_instruction(
    scenario: Scenario, rng: random.Random, config: WorldConfig, instruction_id: str, split: str
) -> WorldInstruction:
    """Phrase a scenario with a phrasing drawn from the configured ones that can express it
    (falling back to `sentence`)."""
    subject = f"{scenario.initial.colour} {scenario.initial.shape}"
    options = [(n, t) for n in config.phrasings if (t := phrase_instruction(n, subject, scenario.events)) is not None]
    name, text = (
        rng.choice(options) if options else ("sentence", phrase_instruction("sentence", subject, scenario.events))
    )
    if text is None:
        raise ValueError(f"instruction {instruction_id}: no phrasing expresses {len(scenario.events)} events")
    return WorldInstruction(instruction_id, text, ground_truth_steps(scenario), split, name, scenario)


def _split(
    config: WorldConfig, split: str, count: int, heldout: frozenset, seen: set[str], max_attempts_per_item: int = 500
) -> list[WorldInstruction]:
    out: list[WorldInstruction] = []
    needs_heldout = split == "eval" and config.max_steps >= 2 and bool(heldout)
    attempt = 0
    while len(out) < count:
        if attempt > max_attempts_per_item * (count + 1):
            raise RuntimeError(f"could not generate {count} distinct {split} instructions from this world config")
        rng = random.Random(f"{config.seed}/{split}/{attempt}")
        attempt += 1
        scenario = sample_scenario(
            rng, config, rng.randint(max(config.min_steps, 2), config.max_steps) if needs_heldout else None
        )
        combos = combinations_of(scenario)
        if (split == "train" and combos & heldout) or (needs_heldout and not combos & heldout):
            continue
        inst = make_instruction(scenario, rng, config, f"world-{split}-{len(out):05d}", split)
        if inst.prompt in seen:
            continue
        seen.add(inst.prompt)
        out.append(inst)
    return out


def generate_instructions(config: WorldConfig | None = None) -> list[WorldInstruction]:
    """Train then eval instructions (num_train_instructions + num_eval_instructions), all distinct prompts,
    a pure function of the config."""
    config = config or WorldConfig()
    heldout = heldout_combinations(config)
    seen: set[str] = set()
    train = _split(config, "train", config.num_train_instructions, heldout, seen)
    return train + _split(config, "eval", config.num_eval_instructions, heldout, seen)


def instruction_rows(config: WorldConfig | None = None) -> list[dict]:
    """Generated instructions as rows of the `instructions` contract."""
    return [inst.row() for inst in generate_instructions(config)]
