"""Configuration of the method ablation (`plotline eval ablation`): which training variants are run per seed and
which evaluation conditions (conditioning mode × checkpoint) the table compares.

The default is TempAct's ablation (single prompt, step prompts, + smoothing, + planner RL, + executor RL, joint)
extended by joint RL with self-paced reward weights and joint RL with reflection at inference. Every training
variant of a seed starts from that seed's one bootstrap checkpoint; conditions without a variant evaluate the
bootstrap policy itself. The YAML preset configs/ablation/tempact.yaml holds the same default (`--ablation PATH` loads another; it lives
in a sub-folder because every configs/*.yaml is a root-config preset).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from plotline._base import Section

_NAME = r"^[A-Za-z0-9_-]+$"


class AblationVariant(Section):
    """One training run per seed: the preset's RL loop, optionally without some step stages or with overrides."""

    name: str = Field(min_length=1, pattern=_NAME)
    """Variant label; its run folder per seed is `<root>/<run_prefix>-s<seed>-<name>`."""
    omit_stages: list[str] = Field(default_factory=list)
    """Stages left out of `orchestration.step_stages` (e.g. `update_executor` for planner RL only); each must be
    one of the step stages."""
    overrides: list[str] = Field(default_factory=list)
    """Config overrides `key=value` of this variant only, applied after the command's `--set`s (e.g.
    `rl.advantage.self_paced.enabled=true`)."""


class AblationCondition(Section):
    """One row of the ablation table: a conditioning mode under the bootstrap policy or a variant's checkpoint."""

    name: str = Field(min_length=1, pattern=_NAME)
    """Condition label in the evaluate artifact and the table."""
    label: str = Field(min_length=1)
    """Human-readable row label (e.g. `+ planner RL`)."""
    mode: Literal["global", "planner", "planner_smooth", "steps", "steps_smooth"] = "planner_smooth"
    """Conditioning mode (plotline.eval.config.MODES)."""
    reflect: bool = False
    """Generate with reflection at inference (the `reflect` section)."""
    variant: str | None = None
    """Training variant whose checkpoint after the last RL step is evaluated; None = the bootstrap policy."""
    reference: float | None = None
    """TempAct's published score for this row (Self-Forcing, Qwen judge, simple + hard average), None when the
    paper has no such row."""


def _default_variants() -> list[AblationVariant]:
    return [
        AblationVariant(name="planner_rl", omit_stages=["update_executor"]),
        AblationVariant(name="executor_rl", omit_stages=["update_planner"]),
        AblationVariant(name="joint"),
        AblationVariant(name="joint_self_paced", overrides=["rl.advantage.self_paced.enabled=true"]),
    ]


def _default_conditions() -> list[AblationCondition]:
    return [
        AblationCondition(name="global", label="single prompt", mode="global", reference=0.325),
        AblationCondition(name="step_prompts", label="step prompts", mode="planner", reference=0.248),
        AblationCondition(name="bootstrap", label="+ smoothing", reference=0.342),
        AblationCondition(name="planner_rl", label="+ planner RL", variant="planner_rl", reference=0.362),
        AblationCondition(name="executor_rl", label="+ executor RL", variant="executor_rl", reference=0.390),
        AblationCondition(name="joint", label="joint RL", variant="joint", reference=0.418),
        AblationCondition(name="joint_self_paced", label="joint, self-paced weights", variant="joint_self_paced"),
        AblationCondition(name="joint_reflect", label="joint + reflection", variant="joint", reflect=True),
    ]


class AblationConfig(Section):
    """The ablation: training variants, evaluated conditions, the baseline of the paired differences, the
    interval level and the score compared."""

    variants: list[AblationVariant] = Field(default_factory=_default_variants)
    """Training runs per seed (each shares the seed's bootstrap checkpoint)."""
    conditions: list[AblationCondition] = Field(default_factory=_default_conditions)
    """Rows of the table, in order."""
    baseline: str = "bootstrap"
    """Condition the paired differences are taken against (same seed, prompts and noise)."""
    confidence: float = Field(0.95, gt=0, lt=1)
    """Level of the Student-t intervals."""
    judge: str = "programmatic"
    """Temporal-following judge (an `eval.judges` name) whose `score` metric is compared."""
    run_prefix: str = Field("ablation", min_length=1, pattern=_NAME)
    """Prefix of the run folders: `<prefix>-s<seed>-base` (instructions, bootstrap, evaluation),
    `<prefix>-s<seed>-<variant>` (training), `<prefix>` (the committed ablation artifact)."""

    @model_validator(mode="after")
    def _check(self) -> AblationConfig:
        for what, names in (
            ("variants", [v.name for v in self.variants]),
            ("conditions", [c.name for c in self.conditions]),
        ):
            if len(set(names)) != len(names):
                raise ValueError(f"ablation.{what} has duplicate names: {names}")
        known = {v.name for v in self.variants}
        if "base" in known:
            raise ValueError("ablation variant name 'base' is reserved for the bootstrap run")
        for c in self.conditions:
            if c.variant is not None and c.variant not in known:
                raise ValueError(
                    f"ablation condition {c.name!r}: variant {c.variant!r} is not one of the variants {sorted(known)}"
                )
        if self.baseline not in {c.name for c in self.conditions}:
            raise ValueError(f"ablation.baseline {self.baseline!r} is not one of the conditions")
        return self

    def variant(self, name: str) -> AblationVariant:
        """The variant called `name`."""
        return next(v for v in self.variants if v.name == name)

    def used_variants(self) -> list[AblationVariant]:
        """The variants some condition evaluates, in declaration order (others are not trained)."""
        used = {c.variant for c in self.conditions}
        return [v for v in self.variants if v.name in used]
