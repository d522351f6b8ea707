"""Plan revisers for the `replan` remedy, behind a registry: given the instruction, the current steps, the span
that was rejected, the critique and the memory, return revised steps (the steps already generated unchanged).

`planner`: asks the run's planner (any planner backend: `local` in process, `openai` served) with the revision
prompt of plotline.reflect.prompts (or its own plan prompt, `reflect.revision_prompt: plain`), parses the reply
like a plan, and keeps the spans already generated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from plotline.planner.parsing import STATUS_FAILED, STATUS_UNPARSED, parse_plan
from plotline.planner.prompts import planner_messages
from plotline.planner.sampling import plan_seed
from plotline.reflect.prompts import revision_messages


@dataclass
class RevisionRequest:
    """What a reviser is asked: revise `steps[span:]` of the video `video_id` (attempt counts its replans)."""

    video_id: str
    instruction: str
    steps: list[str]
    span: int
    critique: str
    memory: list[str] = field(default_factory=list)
    attempt: int = 0


@dataclass
class Revision:
    """A reviser's answer: the revised J steps (None when it produced nothing usable), parse status, raw text
    and, when it failed or fell back, why."""

    steps: list[str] | None
    status: str
    raw: str = ""
    reason: str | None = None


class PlanReviser(Protocol):
    """Revises the remaining steps of a plan."""

    name: str

    def revise(self, request: RevisionRequest, n: int = 1) -> list[Revision]:
        """`n` revisions for `request` (the first `request.span` steps unchanged in each)."""
        ...


ReviserFactory = Callable[..., PlanReviser]
_REVISERS: dict[str, ReviserFactory] = {}


def register_reviser(name: str):
    """Decorator: make a factory `(**context) -> PlanReviser` available as `reflect.reviser: name`."""

    def deco(factory: ReviserFactory) -> ReviserFactory:
        _REVISERS[name] = factory
        return factory

    return deco


def make_reviser(name: str, **context) -> PlanReviser:
    """Instantiate the reviser `name` (a ValueError names the registered ones)."""
    if name not in _REVISERS:
        raise ValueError(f"unknown plan reviser {name!r}; registered: {', '.join(sorted(_REVISERS))}")
    return _REVISERS[name](**context)


class PlannerReviser:
    """Asks the planner for a revised plan through a planner sampling backend (one request per revision)."""

    name = "planner"

    def __init__(
        self, sampler, tokenizer, config, seed: int = 0, prompt: str = "feedback", context_length: int | None = None
    ):
        self.sampler, self.tokenizer, self.config = sampler, tokenizer, config
        self.seed, self.prompt, self.context_length = seed, prompt, context_length

    def messages(self, request: RevisionRequest) -> tuple[list[dict], str | None]:
        """(chat messages, note): the revision prompt, or the plain plan prompt when so configured or when the
        revision prompt would not fit the planner's context (the note says so)."""
        J = len(request.steps)
        plain = planner_messages(request.instruction, J)
        if self.prompt == "plain":
            return plain, None
        msgs = revision_messages(
            request.instruction, J, request.steps[: request.span], request.critique, request.memory
        )
        if self.context_length and len(self._ids(msgs)) + self.config.max_new_tokens > self.context_length:
            return plain, "revision prompt longer than the planner's context; plain plan prompt used"
        return msgs, None

    def _ids(self, messages: Sequence[dict]) -> list[int]:
        text = self.tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=True, enable_thinking=self.config.enable_thinking
        )
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _sample(self, request: RevisionRequest, msgs: list[dict], n: int, salt: int) -> list:
        from plotline.planner.backends import PlanRequest

        ids = tuple(self._ids(msgs))
        reqs = []
        for i in range(n):
            index = 1000 + 100 * request.attempt + 10 * salt + i
            reqs.append(
                PlanRequest(
                    request.video_id,
                    request.instruction,
                    index,
                    plan_seed(self.seed, request.video_id, index),
                    ids,
                    tuple(msgs),
                )
            )
        return self.sampler.sample(reqs)

    def _parse(self, request: RevisionRequest, sample, note: str | None) -> Revision:
        if sample.error is not None:
            return Revision(None, STATUS_FAILED, "", f"planner call failed: {sample.error}")
        parsed = parse_plan(sample.raw_text, len(request.steps), request.instruction, self.config.smooth_joiner)
        if parsed.status in (STATUS_UNPARSED, STATUS_FAILED):
            return Revision(None, parsed.status, sample.raw_text, "the planner's reply holds no usable steps")
        steps = list(request.steps[: request.span]) + list(parsed.steps[request.span :])
        return Revision(steps, parsed.status, sample.raw_text, note)

    def revise(self, request: RevisionRequest, n: int = 1) -> list[Revision]:
        """Sample `n` revised plans as one batch and keep the steps already generated in each. When the revision
        prompt yields no usable steps at all, the plain plan prompt is asked once more (a planner that was never
        trained on revision requests still gives a fresh plan)."""
        msgs, note = self.messages(request)
        out = [self._parse(request, s, note) for s in self._sample(request, msgs, n, 0)]
        if self.prompt == "feedback" and note is None and all(r.steps is None for r in out):
            plain = planner_messages(request.instruction, len(request.steps))
            retry = "revision prompt gave no usable steps; plain plan prompt used"
            out = [self._parse(request, s, retry) for s in self._sample(request, plain, n, 1)]
        return out


@register_reviser("planner")
def _planner_reviser(
    *,
    sampler,
    tokenizer,
    config,
    seed: int = 0,
    prompt: str = "feedback",
    context_length: int | None = None,
    **_ignored,
) -> PlannerReviser:
    return PlannerReviser(sampler, tokenizer, config, seed, prompt, context_length)
