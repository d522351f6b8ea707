"""An offline stand-in for the synthesis LLM: template-built replies in the requested JSON format.

`synth.backend=templates` (a judge backend registered here) answers every synthesis request from its meta
(index, category, step count, theme) without any model, so the pipeline (validation, dedup, journal, split)
runs in CI and demos; `register_template_synthesizer()` does the same through the `programmatic` backend. The prompts are plain but valid: concrete subjects, explicit order words, and
steps that reuse the prompt's words.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Sequence

from plotline.rewards.judges.base import JudgeRequest, JudgeResponse
from plotline.rewards.judges.registry import register_backend

SUBJECTS = [
    "a young woman",
    "an old fisherman",
    "a small brown dog",
    "a tall chef",
    "a curious boy",
    "a grey cat",
    "a silver robot",
    "a gardener",
    "a street painter",
    "a ballet dancer",
    "a farmer",
    "a teenage skater",
    "a librarian",
    "a potter",
    "a mechanic",
    "a waiter",
    "a violinist",
    "a baker",
]
"""Subjects the templates draw from."""
EVENTS = [
    "opens a wooden crate",
    "lifts a blue bucket",
    "waves at the camera",
    "kicks a red ball",
    "pours water into a glass",
    "climbs onto a low bench",
    "spins around twice",
    "drops a paper bag",
    "picks up a yellow umbrella",
    "rings a small bell",
    "sits down on the grass",
    "throws a frisbee",
    "writes on a chalkboard",
    "waters a potted fern",
    "folds a striped towel",
    "ties a green scarf",
    "cracks an egg into a bowl",
    "turns on a desk lamp",
    "closes a heavy book",
    "jumps over a puddle",
]
"""Events the templates draw from (distinct words, so steps align with the prompt)."""
ORDER_WORDS = ["First", "Then", "After that", "Next"]
"""Sequence words opening each event sentence (the last event always opens with `Finally`)."""


def template_candidate(index: int, k: int, num_steps: int, theme: str) -> dict:
    """Candidate `k` of request `index`: {"prompt", "steps"} with `num_steps` ordered events."""
    rng = random.Random(f"template/{index}/{k}")
    subject = SUBJECTS[(index * 5 + k * 3) % len(SUBJECTS)]
    events = rng.sample(EVENTS, num_steps)
    intro = f"{subject[0].upper()}{subject[1:]} stands in {theme or 'a quiet yard'}, close to the camera."
    if num_steps == 1:
        body = f"Slowly, the figure {events[0]}."
    else:
        words = ORDER_WORDS[: num_steps - 1] + ["Finally"]
        body = " ".join(f"{w}, the figure {e}." for w, e in zip(words, events))
    return {"prompt": f"{intro} {body}", "steps": [f"the figure {e}" for e in events]}


def template_reply(index: int, num_steps: int, theme: str, count: int) -> str:
    """A reply with `count` template candidates, fenced like a chat model's answer."""
    items = [template_candidate(index, k, num_steps, theme) for k in range(count)]
    return "```json\n" + json.dumps({"instructions": items}) + "\n```"


def requested_count(user_text: str) -> int:
    """How many candidates a synthesis request asks for (parsed from its text)."""
    m = re.search(r"Write (\d+) different", user_text)
    return int(m.group(1)) if m else 1


def answer(request) -> str:
    """Programmatic `synth` judge: a template reply to one synthesis request."""
    meta = request.meta
    return template_reply(
        int(meta["index"]), int(meta["num_steps"]), str(meta.get("theme", "")), requested_count(request.user)
    )


def register_template_synthesizer() -> None:
    """Register `answer` as the programmatic backend's `synth` function."""
    from plotline.rewards.judges.programmatic import register_programmatic_judge

    register_programmatic_judge("synth", answer)


class TemplateSynthBackend:
    """Judge-client backend that answers synthesis requests with `answer` (never fails)."""

    name = "templates"

    def complete(self, requests: Sequence[JudgeRequest]) -> list[JudgeResponse]:
        """One template reply per request."""
        out = []
        for req in requests:
            start = time.perf_counter()
            out.append(JudgeResponse(answer(req), time.perf_counter() - start))
        return out


@register_backend("templates")
def _make(config) -> TemplateSynthBackend:
    return TemplateSynthBackend()
