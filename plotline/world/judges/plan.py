"""Plan judge: compare a plan's (unsmoothed) step prompts with the instruction's ground-truth steps.

Ground truth: the events of the ground-truth steps (or of the instruction when none are given), the shape
and every colour the object takes. The plan: each step parsed into events and subjects; `stay` steps are
neutral filler; consecutive repeats merge (one event spread over two spans).
- coverage_score = share of ground-truth events (counted with repeats) that the plan contains
- faithfulness_score = share of plan steps whose every event is a ground-truth event and whose subject
  (shape, colour) is the object's
- temporal_score = share of pairs of matched events that keep the ground-truth order (Kendall agreement)
- hallucination_score = share of plan items that are invented: events absent from the ground truth,
  subjects that contradict it, and steps naming no event of the world (higher = worse)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from plotline.world.events import collapse
from plotline.world.judges.common import expectation, kendall_agreement, reply
from plotline.world.parse import parse_text


def judge_plan(instruction: str, gt_steps: Sequence[str] | None, plan_steps: Sequence[str], config=None) -> str:
    """Plan-judge reply (JSON text, four floats in [0, 1]) for `plan_steps` against the instruction and its
    ground-truth steps. `config` is accepted for a uniform judge signature and unused."""
    exp = expectation(instruction, gt_steps)
    gt_events = list(exp.events)
    gt_set = Counter(gt_events)
    colours = {c for c in exp.colours if c}

    plan_actions: list[str] = []
    faithful_steps, invented, items = 0, 0, 0
    notes = []
    for text in plan_steps:
        parsed = parse_text(text or "")
        if not parsed.events:
            invented += 1
            items += 1
            notes.append({"step": text, "issue": "no event of the shapes world"})
            continue
        ok = True
        for ev in parsed.events:
            items += 1
            bad_event = ev.action not in gt_set and ev.action != "stay"
            bad_subject = (ev.shape is not None and exp.shape is not None and ev.shape != exp.shape) or (
                ev.colour is not None and colours and ev.colour not in colours
            )
            if bad_event or bad_subject:
                invented += 1
                ok = False
                notes.append(
                    {
                        "step": text,
                        "event": ev.action,
                        "issue": "event not in the instruction" if bad_event else "subject contradicts the instruction",
                    }
                )
            plan_actions.append(ev.action)
        faithful_steps += ok

    observed = collapse(plan_actions)
    matched = sum((Counter(observed) & gt_set).values())
    scores = {
        "faithfulness_score": round(faithful_steps / len(plan_steps), 4) if plan_steps else 0.0,
        "coverage_score": round(matched / len(gt_events), 4) if gt_events else 1.0,
        "temporal_score": round(kendall_agreement(observed, gt_events), 4) if gt_events else 1.0,
        "hallucination_score": round(invented / items, 4) if items else 0.0,
    }
    think = {"ground_truth_events": gt_events, "plan_events": observed, "issues": notes}
    return reply(scores, think)
