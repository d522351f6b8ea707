"""Programmatic judges of the shapes world: read generated frames only and answer in the VLM/LLM judges'
JSON schemas (DESIGN §5) as reply *strings*, so the normal judge parser reads them."""

from plotline.world.judges.plan import judge_plan
from plotline.world.judges.quality import ImageStatsScorer, frame_quality, image_quality_score
from plotline.world.judges.step import judge_step
from plotline.world.judges.temporal import judge_temporal

__all__ = ["judge_temporal", "judge_step", "judge_plan", "image_quality_score", "frame_quality", "ImageStatsScorer"]
