"""Configuration of the Temporal Order benchmark runs (`plotline eval`, the `evaluate` stage).

Mounted as `PlotlineConfig.eval`; until then `eval_section(config)` returns the defaults for a config without
that section. The paper's protocol (Simple set: 3 step prompts, Hard set: 5, L = 12 latent frames per step,
one fixed seed) is `paper_subsets(simple_csv, hard_csv)`; without subsets the benchmark is the eval split of the
run's instructions at the run's own video geometry (the shapes world's default).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from plotline._base import Section
from plotline.rewards.config import OpenAIJudgeConfig

MODES = ("global", "planner", "planner_smooth", "steps", "steps_smooth")
"""Conditioning modes: one global prompt for every span; the planner's step prompts; the planner's steps
smoothed across span boundaries; the benchmark's ground-truth steps (oracle), plain or smoothed."""

PAPER_STEP_FRAMES = 12
"""L of the paper's protocol: latent frames per step prompt."""


class EvalSubset(Section):
    """One benchmark subset: where its prompts come from and the video geometry they are evaluated at."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    """Subset label in the results (e.g. simple, hard)."""
    source: Literal["instructions", "file", "artifact", "world"] = "instructions"
    """`instructions`: the run's instructions artifact; `file`: a prompt list at `path` (CSV/JSONL/Parquet with
    a `prompt` column, optional `category`, `steps`); `artifact`: a committed instructions artifact at `path`
    (e.g. a synthesize output); `world`: generated from the `world` config."""
    path: str | None = None
    """File or artifact URI for the `file` and `artifact` sources."""
    split: Literal["train", "eval", "all"] = "eval"
    """Rows of this split (ignored for `file`)."""
    categories: list[str] = Field(default_factory=list)
    """Keep only these categories (empty: all)."""
    limit: int | None = Field(None, ge=1)
    """Evaluate only the first `limit` prompts."""
    num_steps: int | None = Field(None, ge=1)
    """J: step prompts per video (paper: Simple 3, Hard 5); None = the run's `video.num_steps`."""
    latent_frames_per_step: int | None = Field(None, ge=1)
    """L (paper: 12); None = the run's `video.latent_frames_per_step`."""
    target_latent_frames: int | None = Field(None, ge=1)
    """K; None = J·L when `num_steps` is set, else the run's `video.target_latent_frames`."""

    @model_validator(mode="after")
    def _check(self) -> EvalSubset:
        if self.source in ("file", "artifact") and not self.path:
            raise ValueError(f"eval subset {self.name!r}: source {self.source!r} needs `path`")
        return self


def paper_subsets(simple_path: str, hard_path: str) -> list[EvalSubset]:
    """The paper's protocol: Simple prompts with 3 step prompts and Hard prompts with 5, L = 12 each."""
    return [
        EvalSubset(
            name="simple", source="file", path=simple_path, num_steps=3, latent_frames_per_step=PAPER_STEP_FRAMES
        ),
        EvalSubset(name="hard", source="file", path=hard_path, num_steps=5, latent_frames_per_step=PAPER_STEP_FRAMES),
    ]


class EvalCondition(Section):
    """One row of the comparison: a conditioning mode under one checkpoint."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.+-]+$")
    """Label of the condition in tables and file names."""
    mode: Literal["global", "planner", "planner_smooth", "steps", "steps_smooth"] = "planner_smooth"
    """How the spans are conditioned (see plotline.eval.config.MODES)."""
    checkpoint: str = "base"
    """`base` (the starting policy: planner cold-start adapter, executor checkpoint without RL adapter),
    `current` (the update outputs at the evaluate stage's own step), `latest` (newest step with an update
    output), `step=N`, or `<run URI>@step=N` / `<run URI>@latest` for another run."""
    planner_adapter: str | None = None
    """Override the planner adapter: an update_planner version folder URI, a local adapter folder, `base` (the
    cold-start adapter) or `none` (the planner base model alone)."""
    executor_adapter: str | None = None
    """Override the executor adapter: an update_executor version folder URI, a local adapter folder, or `base` /
    `none` (the executor checkpoint without an RL adapter)."""
    executor_weights: Literal["adapter", "adapter_ema"] = "adapter"
    """Which adapter folder of an update_executor artifact to load (the EMA one when it was written)."""
    reflect: bool = False
    """Generate with reflection (plan – act – reflect under the `reflect` section: critic after every span,
    best-of-K regeneration, planner revisions, budget) instead of one open-loop pass; the report adds the extra
    compute (critic calls, chunk generations, time) next to the score."""


class EvalJudge(Section):
    """A temporal-following judge used for scoring (one or more: in-domain and out-of-domain)."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    """Label of the judge in the results."""
    backend: str = "programmatic"
    """Judge backend (`programmatic` = the shapes world's detector, `openai`, `local`)."""
    model: str | None = None
    """Vision model the backend asks (None: `rewards.models.vision`)."""
    openai: OpenAIJudgeConfig | None = None
    """Endpoint of an `openai` judge (None: `rewards.openai`)."""
    num_frames: int | None = Field(None, ge=2)
    """Frames sampled over the whole video (None: `rewards.frames.temporal_num_frames`)."""
    role: Literal["in_domain", "out_of_domain"] = "in_domain"
    """In-domain (the training judge) or out-of-domain (a different model family); a report label."""


class HumanConfig(Section):
    """Human-agreement tooling (A/B export and judge–human agreement)."""

    tie_band: float = Field(0.03, ge=0)
    """Judge score differences within ± this band count as a tie (paper: 0.03)."""
    seed: int = 0
    """Seed of the left/right order of exported pairs."""


class EvalConfig(Section):
    """The Temporal Order benchmark: subsets × conditions, judges, aesthetic score and report."""

    subsets: list[EvalSubset] = Field(default_factory=list)
    """Benchmark subsets; empty = one subset `eval` from the run's instructions (eval split), or generated from
    the world when the run has none."""
    conditions: list[EvalCondition] = Field(
        default_factory=lambda: [
            EvalCondition(name="base", checkpoint="base"),
            EvalCondition(name="current", checkpoint="current"),
        ]
    )
    """Modes and checkpoints to compare; default: the starting (bootstrap) policy vs the policy after the evaluated
    step's updates, both with smoothed planner steps."""
    baseline: str | None = None
    """Condition that relative changes are measured against (None: the first condition)."""
    judges: list[EvalJudge] = Field(default_factory=lambda: [EvalJudge(name="programmatic")])
    """Temporal-following judges (the Temporal-Following score is each judge's mean aggregated video score)."""
    aesthetic: Literal["auto", "pickscore", "image_stats", "none"] = "auto"
    """Visual-quality score: PickScore (`rewards.pickscore`), the shapes world's image statistics, or none;
    `auto` = PickScore when a model path is configured, else image statistics."""
    aesthetic_frames: int = Field(8, ge=1)
    """Frames (over the whole video) scored for the aesthetic metric."""
    seed: int = 0
    """Noise seed; the same for every condition, so conditions differ only in conditioning and weights."""
    batch_size: int = Field(4, ge=1)
    """Videos generated together in one batch."""
    planner_temperature: float | None = Field(None, gt=0)
    """Planner sampling temperature for evaluation (None: `planner.temperature`)."""
    planner_top_p: float | None = Field(None, gt=0, le=1)
    """Planner top-p for evaluation (None: `planner.top_p`)."""
    write_videos: bool = True
    """Write every generated video as an mp4 into the artifact (linked from the report)."""
    plots: bool = True
    """Render PNG plots into the artifact."""
    category_breakdown: bool = True
    """Add the per-category table to the report."""
    human: HumanConfig = Field(default_factory=HumanConfig)
    """A/B export and judge–human agreement."""

    @model_validator(mode="after")
    def _check(self) -> EvalConfig:
        for what, names in (
            ("conditions", [c.name for c in self.conditions]),
            ("judges", [j.name for j in self.judges]),
            ("subsets", [s.name for s in self.subsets]),
        ):
            if len(set(names)) != len(names):
                raise ValueError(f"eval.{what} has duplicate names: {names}")
        if not self.conditions:
            raise ValueError("eval.conditions is empty")
        if self.baseline is not None and self.baseline not in {c.name for c in self.conditions}:
            raise ValueError(f"eval.baseline {self.baseline!r} is not one of the conditions")
        reserved = {"pickscore", "image_stats"}
        if reserved & {j.name for j in self.judges}:
            raise ValueError(f"eval.judges may not be named {sorted(reserved)} (used by the aesthetic score)")
        return self

    @property
    def baseline_name(self) -> str:
        """The baseline condition's name."""
        return self.baseline or self.conditions[0].name


def eval_section(config) -> EvalConfig:
    """`config.eval` when the root config has that section, else the defaults (or `config` if it is one)."""
    if isinstance(config, EvalConfig):
        return config
    section = getattr(config, "eval", None)
    return section if isinstance(section, EvalConfig) else EvalConfig()
