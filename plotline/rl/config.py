"""RL configuration: GSPO for the planner, Flow-GRPO for the executor, group advantages."""

from __future__ import annotations

from pydantic import Field

from plotline._base import Section
from plotline.rl.advantage_config import AdvantageConfig
from plotline.rl.flow_grpo_config import FlowGRPOConfig
from plotline.rl.gspo_config import GSPOConfig


class RLConfig(Section):
    """Hyperparameters of both policy updates and of the advantage computation."""

    planner: GSPOConfig = Field(default_factory=GSPOConfig)
    """GSPO update of the planner."""
    executor: FlowGRPOConfig = Field(default_factory=FlowGRPOConfig)
    """Flow-GRPO update of the executor."""
    advantage: AdvantageConfig = Field(default_factory=AdvantageConfig)
    """Reward aggregation into group-relative advantages."""
