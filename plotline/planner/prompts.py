"""The planner instruction (our own wording) and rendering it through the model's chat template."""

from __future__ import annotations

from dataclasses import dataclass

from plotline.planner.errors import ChatTemplateMissing, PlannerInputError

PLANNER_SYSTEM_PROMPT = """\
You plan short videos for a text-to-video model that draws a clip piece by piece.
The clip is cut into {num_steps} spans of equal length, shown one after another. Write exactly \
{num_steps} captions, one per span, in the order the spans play.
Rules for every caption:
- Describe only what can be seen in that span, in the present tense, as one plain sentence.
- Keep the subjects, objects and setting of the instruction; do not bring in anything new.
- Spread the events of the instruction evenly over the spans; a span in the middle may show an event \
only partly done (for example "starts to", "halfway through").
- Repeat what the subject looks like in each caption, so every caption can stand alone.
Answer with a JSON array of {num_steps} strings and nothing else."""

PLANNER_USER_PROMPT = "Instruction: {instruction}\nSpans: {num_steps}"


def planner_messages(instruction: str, num_steps: int) -> list[dict]:
    """Chat messages asking for J = `num_steps` span captions of `instruction` (system rules + user turn)."""
    text = (instruction or "").strip()
    if not text:
        raise PlannerInputError(f"planner instruction is empty (got {instruction!r})")
    if num_steps < 1:
        raise PlannerInputError(f"num_steps must be >= 1 (got {num_steps})")
    return [
        {"role": "system", "content": PLANNER_SYSTEM_PROMPT.format(num_steps=num_steps)},
        {"role": "user", "content": PLANNER_USER_PROMPT.format(instruction=text, num_steps=num_steps)},
    ]


def require_chat_template(tokenizer, where: str | None = None) -> None:
    """Raise ChatTemplateMissing when `tokenizer` has no chat template (names the tokenizer's source)."""
    if not getattr(tokenizer, "chat_template", None):
        source = where or getattr(tokenizer, "name_or_path", None) or type(tokenizer).__name__
        raise ChatTemplateMissing(
            f"tokenizer from {source!r} has no chat template; the planner needs a Qwen3-style chat template "
            "(save one as chat_template.jinja next to the tokenizer)"
        )


@dataclass(frozen=True)
class RenderedPrompt:
    """A planner prompt: the chat messages, the rendered text and its token ids."""

    messages: list[dict]
    text: str
    token_ids: list[int]


def render_prompt(
    tokenizer, instruction: str, num_steps: int, enable_thinking: bool, max_prompt_tokens: int | None = None
) -> RenderedPrompt:
    """Render the planner prompt for `instruction` with the chat template (generation prompt appended,
    thinking on/off) and tokenise it; raises PlannerInputError when it exceeds `max_prompt_tokens`."""
    require_chat_template(tokenizer)
    messages = planner_messages(instruction, num_steps)
    text = tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True, enable_thinking=enable_thinking
    )
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    if max_prompt_tokens is not None and len(ids) > max_prompt_tokens:
        short = instruction if len(instruction) <= 80 else instruction[:77] + "..."
        raise PlannerInputError(
            f"planner prompt for instruction {short!r} is {len(ids)} tokens, longer than the allowed "
            f"{max_prompt_tokens} (context minus max_new_tokens)"
        )
    return RenderedPrompt(messages=messages, text=text, token_ids=ids)
