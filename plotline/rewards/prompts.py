"""Our wording of the three judge prompts. Keys follow DESIGN §5 so replies stay interchangeable."""

from __future__ import annotations

from collections.abc import Sequence

_JSON_RULE = (
    "Answer with one JSON object and nothing else: no Markdown, no text before or after it. "
    "Numbers must be plain JSON numbers."
)


def _numbered(lines: Sequence[str]) -> str:
    return "\n".join(f"{i}. {s}" for i, s in enumerate(lines, 1))


def plan_judge_prompt(instruction: str, steps: Sequence[str]) -> tuple[str, str]:
    """(system, user) asking a text judge to rate a plan's UNSMOOTHED step prompts against the instruction
    on four 0–1 scales (faithfulness, coverage, temporal order, hallucination)."""
    system = (
        "You review storyboards for a video generator. A storyboard splits one instruction into "
        "consecutive steps; each step is a caption of one equal-length stretch of the video. "
        "You grade strictly and consistently."
    )
    user = (
        f"Instruction:\n{instruction}\n\nStoryboard ({len(steps)} steps, in playback order):\n{_numbered(steps)}\n\n"
        "Grade the storyboard with four numbers between 0 and 1:\n"
        "- faithfulness_score: the steps describe what the instruction says, with its subjects, objects and setting (1 = fully faithful).\n"
        "- coverage_score: every event of the instruction appears in some step (1 = nothing left out).\n"
        "- temporal_score: the events appear in the same order as in the instruction, and each step follows on from the previous one (1 = perfect order).\n"
        "- hallucination_score: how much the steps add that the instruction does not ask for (0 = nothing invented, 1 = mostly invented).\n"
        'You may add a "think" object with short notes.\n'
        f"{_JSON_RULE}\n"
        'Keys: "faithfulness_score", "coverage_score", "temporal_score", "hallucination_score", optional "think".'
    )
    return system, user


def temporal_judge_prompt(instruction: str, n_frames: int) -> tuple[str, str]:
    """(system, user) asking a vision judge to rate frames sampled over the whole video (first to last)
    against the instruction: one 0–10 score per frame plus five 0–10 video scores."""
    system = (
        "You evaluate generated videos for whether they show the events of an instruction in the right "
        "order. You see frames sampled evenly from the very first to the very last frame, in time order."
    )
    user = (
        f"Instruction:\n{instruction}\n\nYou are given {n_frames} frames: frame 1 is the start of the video and "
        f"frame {n_frames} is its final frame.\n\n"
        "Give scores from 0 (worst) to 10 (best):\n"
        f"- frame_scores: a list of exactly {n_frames} numbers, one per frame in order, rating how well that frame "
        "shows the part of the instruction that should be happening at that moment.\n"
        "- temporal_order_score: the events happen in the order the instruction gives.\n"
        "- physical_plausibility_score: motion and interactions obey everyday physics.\n"
        "- visual_consistency_score: subjects, objects and scene stay coherent from frame to frame.\n"
        "- prompt_alignment_score: the video as a whole shows what the instruction asks for.\n"
        "- final_score: your overall judgement of how well the video follows the instruction over time.\n"
        'You may add a "think" object with short notes.\n'
        f"{_JSON_RULE}\n"
        'Keys: "frame_scores", "temporal_order_score", "physical_plausibility_score", "visual_consistency_score", '
        '"prompt_alignment_score", "final_score", optional "think".'
    )
    return system, user


def step_judge_prompt(step: str, previous_step: str | None, n_frames: int) -> tuple[str, str]:
    """(system, user) asking a vision judge to rate the frames right after a prompt switch against the new
    step prompt on five 0–10 scales (subject, scene, action, object appearance, final)."""
    system = (
        "You check whether a video generator carried out a new instruction. The frames you see come "
        "from the moment the generator switched to a new step prompt, in time order."
    )
    context = f"Previous step (already shown before these frames):\n{previous_step}\n\n" if previous_step else ""
    user = (
        f"{context}New step to carry out:\n{step}\n\nYou are given {n_frames} frames in time order.\n\n"
        "Give scores from 0 (worst) to 10 (best):\n"
        "- subject_score: the subject of the new step is present and correct.\n"
        "- scene_score: the setting matches the new step.\n"
        "- action_score: the new step's action is visibly happening or completed.\n"
        "- object_appearance_reasonability_score: objects look plausible and do not appear, vanish or morph without cause.\n"
        "- final_score: your overall judgement of how well these frames carry out the new step.\n"
        'You may add a "think" object with short notes.\n'
        f"{_JSON_RULE}\n"
        'Keys: "subject_score", "scene_score", "action_score", "object_appearance_reasonability_score", '
        '"final_score", optional "think".'
    )
    return system, user
