"""The shapes world: procedural instructions, renderer, programmatic judges (DESIGN §6).

Public entry points:
- generate_instructions(config) / instruction_rows(config): train/eval instructions with ground-truth steps
- render_scenario(scenario, config) / render_from_steps(step_texts, config): uint8 videos [T, H, W, 3]
- parse_text(text) / parse_events(text): text → events over the world's vocabulary
- judge_temporal / judge_step / judge_plan: JSON reply strings in the VLM/LLM judges' schemas
- image_quality_score / ImageStatsScorer: the image-statistics stand-in for PickScore

The tiny models and their warm start (imported on use; they need torch):
- plotline.world.backbone: the `shapes` executor backbone (a small config of the causal DiT), registered with the
  executor's registries together with its frozen event text encoder (text_encoder) and the world-state decoder
  (state_latent: one latent per frame, rendered by the world renderer)
- plotline.world.plans: template plans (ground-truth steps + `stay`), plan corruptions, plan videos
- plotline.world.planner_training / executor_training / bootstrap: what the bootstrap stage trains
- plotline.world.judges.backend: the `world` programmatic reward provider (judges + PickScore stand-in)
- plotline.world.curves: reward-curve table and plot of `plotline train`'s closing summary
"""

from plotline.world.config import WorldConfig
from plotline.world.instructions import WorldInstruction, generate_instructions, instruction_rows
from plotline.world.judges import ImageStatsScorer, image_quality_score, judge_plan, judge_step, judge_temporal
from plotline.world.parse import parse_events, parse_text
from plotline.world.render import render_from_steps, render_scenario, span_bounds
from plotline.world.state import Geometry, ObjectState, Scenario

__all__ = [
    "WorldConfig",
    "WorldInstruction",
    "generate_instructions",
    "instruction_rows",
    "render_scenario",
    "render_from_steps",
    "span_bounds",
    "parse_text",
    "parse_events",
    "judge_temporal",
    "judge_step",
    "judge_plan",
    "image_quality_score",
    "ImageStatsScorer",
    "Geometry",
    "ObjectState",
    "Scenario",
]
