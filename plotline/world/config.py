"""Shapes-world configuration: instruction generator, renderer geometry and programmatic-judge thresholds."""

from __future__ import annotations

from pydantic import Field, model_validator

from plotline._base import Section
from plotline.world.bootstrap_config import BootstrapConfig


class WorldConfig(Section):
    """The procedural shapes world (the embedded default)."""

    seed: int = 0
    """Seed of the instruction generator (and of the held-out combination draw)."""
    num_train_instructions: int = Field(32, ge=1)
    """Instructions generated for training."""
    num_eval_instructions: int = Field(16, ge=0)
    """Instructions generated for evaluation; each contains at least one held-out combination when
    `max_steps` ≥ 2 (otherwise they are fresh draws that differ from every training prompt)."""
    min_steps: int = Field(1, ge=1, le=4)
    """Fewest ordered events in one instruction."""
    max_steps: int = Field(4, ge=1, le=4)
    """Most ordered events in one instruction."""
    heldout_fraction: float = Field(0.15, ge=0.0, lt=1.0)
    """Share of (shape, action, next action) combinations that appear only in eval instructions."""
    shapes: list[str] = Field(default_factory=lambda: ["square", "circle", "triangle"])
    """Shapes the generator draws from (a subset of the vocabulary)."""
    colours: list[str] = Field(default_factory=lambda: ["red", "green", "blue", "yellow", "purple", "cyan"])
    """Colours the generator draws from (a subset of the palette)."""
    phrasings: list[str] = Field(default_factory=lambda: ["sentence", "first_then", "comma_then", "after"])
    """Instruction phrasings the generator may use (see plotline.world.phrasing)."""
    frame_height: int = Field(32, ge=16)
    """Rendered frame height in pixels."""
    frame_width: int = Field(32, ge=16)
    """Rendered frame width in pixels."""
    num_frames: int = Field(32, ge=2)
    """Frames T of a rendered video; the J events share them in J equal spans."""
    move_fraction: float = Field(0.25, gt=0.0, le=0.5)
    """Distance of one move event as a fraction of the frame side it moves along."""
    min_size_fraction: float = Field(0.22, gt=0.0, le=1.0)
    """Smallest object side as a fraction of the shorter frame side (≥ 7 px keeps shapes distinguishable)."""
    max_size_fraction: float = Field(0.5, gt=0.0, le=1.0)
    """Largest object side as a fraction of the shorter frame side."""
    scale_factor: float = Field(1.5, gt=1.0)
    """Side length multiplier of one grow event (shrink divides by it)."""
    hold_fraction: float = Field(0.25, ge=0.0, lt=1.0)
    """Tail of every span in which the object holds the event's end state (the event runs in the rest)."""
    foreground_threshold: int = Field(48, ge=1, le=254)
    """A pixel is foreground when its brightest channel reaches this value (background is black)."""
    event_threshold: float = Field(0.25, gt=0.0, le=1.0)
    """Temporal judge: normalised change (1 = one full event) that registers an event between frames."""
    step_event_threshold: float = Field(0.1, gt=0.0, le=1.0)
    """Step judge: normalised change that counts as the step's action having started in its window."""
    step_full_strength: float | None = Field(None, gt=0.0, le=1.0)
    """Step judge: normalised change from which the step's action counts as fully shown in its window (action
    credit strength / step_full_strength, capped at 1), so a half-done or late event earns part of the credit; None:
    step_event_threshold (full credit as soon as the action has started). At least step_event_threshold."""
    bootstrap: BootstrapConfig = Field(default_factory=BootstrapConfig)
    """How the bootstrap stage warm-starts the tiny planner and executor."""

    @model_validator(mode="after")
    def _check_ranges(self) -> WorldConfig:
        if self.min_steps > self.max_steps:
            raise ValueError(f"min_steps={self.min_steps} exceeds max_steps={self.max_steps}")
        if self.step_full_strength is not None and self.step_full_strength < self.step_event_threshold:
            raise ValueError(
                f"step_full_strength={self.step_full_strength} is below "
                f"step_event_threshold={self.step_event_threshold}"
            )
        if self.min_size_fraction * self.scale_factor > self.max_size_fraction:
            raise ValueError(
                "max_size_fraction must allow at least one grow from min_size_fraction "
                f"(min {self.min_size_fraction} × scale {self.scale_factor} > max {self.max_size_fraction})"
            )
        from plotline.world.phrasing import PHRASINGS
        from plotline.world.vocab import PALETTE, SHAPES

        for name, values, known in (
            ("shapes", self.shapes, SHAPES),
            ("colours", self.colours, tuple(PALETTE)),
            ("phrasings", self.phrasings, tuple(PHRASINGS)),
        ):
            unknown = [v for v in values if v not in known]
            if unknown or not values:
                raise ValueError(f"world.{name}: unknown or empty {unknown or values}; choose from {list(known)}")
        if len(self.colours) < 2:
            raise ValueError("world.colours needs at least two colours (turn events change colour)")
        return self
