"""Our wording of the planner's revision request: the planner prompt for the whole video, plus the captions of
the spans already generated, the critic's verdict on the rejected span and the memory of earlier critiques."""

from __future__ import annotations

from collections.abc import Sequence

from plotline.planner.prompts import planner_messages


def revision_messages(
    instruction: str, num_steps: int, shown: Sequence[str], critique: str, memory: Sequence[str] = ()
) -> list[dict]:
    """Chat messages asking for all `num_steps` captions again, keeping the `shown` ones (already generated) and
    rewriting the rest so the video can still follow the instruction, given the critique of the last span."""
    messages = planner_messages(instruction, num_steps)
    lines = [messages[1]["content"], ""]
    if shown:
        lines.append("Spans already generated (keep these captions as they are):")
        lines += [f"{i}. {s}" for i, s in enumerate(shown, 1)]
    lines.append(f"A reviewer rejected span {len(shown) + 1} as generated: {critique}")
    if memory:
        lines.append("Earlier reviews of this video:")
        lines += [f"- {m}" for m in memory]
    lines.append(
        f"Rewrite the captions of spans {len(shown) + 1} to {num_steps} so the video can still show the "
        f"instruction, and answer with all {num_steps} captions as before."
    )
    messages[1] = {"role": "user", "content": "\n".join(lines)}
    return messages
