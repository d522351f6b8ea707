"""The shapes world: procedural instructions, renderer, programmatic judges (DESIGN §6).

Public entry points:
- generate_instructions(config) / instruction_rows(config): train/eval instructions with ground-truth steps
- render_scenario(scenario, config) / render_from_steps(step_texts, config): uint8 videos [T, H, W, 3]
- parse_text(text) / parse_events(text): text → events over the world's vocabulary
- judge_temporal / judge_step / judge_plan: JSON reply strings in the VLM/LLM judges' schemas
- image_quality_score / ImageStatsScorer: the image-statistics stand-in for PickScore
"""
from plotline.world.config import WorldConfig
from plotline.world.generator import WorldInstruction, generate_instructions, instruction_rows
from plotline.world.judges import ImageStatsScorer, image_quality_score, judge_plan, judge_step, judge_temporal
from plotline.world.parse import parse_events, parse_text
from plotline.world.render import render_from_steps, render_scenario, span_bounds
from plotline.world.state import Geometry, ObjectState, Scenario

__all__ = [
    "WorldConfig", "WorldInstruction", "generate_instructions", "instruction_rows", "render_scenario",
    "render_from_steps", "span_bounds", "parse_text", "parse_events", "judge_temporal", "judge_step",
    "judge_plan", "image_quality_score", "ImageStatsScorer", "Geometry", "ObjectState", "Scenario",
]
