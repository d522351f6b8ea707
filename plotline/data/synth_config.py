"""Configuration of LLM-backed instruction synthesis (`plotline synth`, the `synthesize` stage).

Mounted as `PlotlineConfig.synth`.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from plotline._base import Section
from plotline.rewards.config import OpenAIJudgeConfig

DEFAULT_MARKERS = [
    "then",
    "after",
    "afterwards",
    "afterward",
    "next",
    "finally",
    "first",
    "before",
    "once",
    "until",
    "later",
    "eventually",
    "followed by",
    "subsequently",
    "as soon as",
    "when",
    "while",
    "meanwhile",
    "at last",
    "begins",
    "starts",
    "soon",
]


class SynthCategory(Section):
    """One category of synthesised instructions."""

    name: str = Field(min_length=1)
    """Label written to the `category` column (e.g. person)."""
    weight: float = Field(1.0, gt=0)
    """Relative share of the accepted instructions that belong to this category."""
    description: str = ""
    """What instructions of this category show; quoted in the request to the model."""


def _default_categories() -> list[SynthCategory]:
    return [
        SynthCategory(name="person", description="one or two people doing an everyday activity with objects"),
        SynthCategory(name="object", description="objects that move, change state or interact without people"),
        SynthCategory(name="action", description="a clear physical action such as sport, cooking or crafting"),
        SynthCategory(
            name="creative", description="an imaginative or surreal scene that still has concrete, visible events"
        ),
    ]


class SynthDiversity(Section):
    """Constraints that keep the accepted set varied."""

    near_duplicate_jaccard: float = Field(0.6, gt=0, le=1)
    """A candidate whose word-shingle Jaccard similarity to an accepted prompt reaches this is a near-duplicate."""
    shingle_words: int = Field(3, ge=1, le=8)
    """Words per shingle for near-duplicate detection."""
    max_opening_share: float = Field(0.2, gt=0, le=1)
    """Most accepted prompts (as a share of the target, at least one) that may begin with the same words."""
    opening_words: int = Field(3, ge=1, le=10)
    """How many leading words make up a prompt's opening."""
    banned_phrases: list[str] = Field(default_factory=list)
    """Case-insensitive phrases that reject a candidate (e.g. names of real people)."""
    themes: list[str] = Field(
        default_factory=lambda: [
            "a kitchen",
            "a garden",
            "a city street",
            "a beach",
            "a workshop",
            "a classroom",
            "a forest",
            "a park",
            "a living room",
            "a lake",
            "a snowy field",
            "a market",
            "a laboratory",
            "a desert",
            "a harbour",
            "a playground",
            "an office",
            "a farm",
            "a stage",
            "a mountain trail",
        ]
    )
    """Setting hints; each request suggests one (drawn by the seed) so requests ask for different scenes."""
    avoid_openings_in_prompt: int = Field(5, ge=0)
    """The request lists up to this many openings that are already common, asking the model to avoid them."""


class SynthValidation(Section):
    """Checks every candidate must pass (besides duplicates and diversity)."""

    min_words: int = Field(12, ge=1)
    """Fewest words in a prompt."""
    max_words: int = Field(120, ge=1)
    """Most words in a prompt."""
    max_chars: int = Field(4000, ge=1)
    """Most characters in a prompt (the instructions contract allows 4000)."""
    require_steps: bool = True
    """A candidate must list its ordered steps (they become the ground-truth `steps`)."""
    match_requested_steps: bool = True
    """The number of listed steps must equal the number requested (else only the min/max range applies)."""
    min_step_overlap: float = Field(0.3, ge=0, le=1)
    """Share of a step's content words that must occur in the prompt; 0 disables the step-to-prompt check."""
    check_order: bool = True
    """The steps must occur in the prompt in their listed order (content-word alignment)."""
    require_temporal_marker: bool = True
    """Prompts with two or more steps must contain a temporal marker (see `temporal_markers`)."""
    temporal_markers: list[str] = Field(default_factory=lambda: list(DEFAULT_MARKERS))
    """Words or phrases that mark a sequence of events."""
    max_step_words: int = Field(40, ge=1)
    """Most words in one step."""

    @model_validator(mode="after")
    def _check(self) -> SynthValidation:
        if self.min_words > self.max_words:
            raise ValueError(f"min_words={self.min_words} exceeds max_words={self.max_words}")
        return self


class SynthConfig(Section):
    """LLM-backed synthesis of temporally structured instructions."""

    num_instructions: int = Field(100, ge=1)
    """Instructions to accept in total (train + eval)."""
    eval_fraction: float = Field(0.1, ge=0, lt=1)
    """Share of each category that goes to the eval split (chosen by a hash of the prompt)."""
    categories: list[SynthCategory] = Field(default_factory=_default_categories)
    """Categories and their shares (the paper: person, object, action, creative)."""
    min_steps: int = Field(1, ge=1, le=8)
    """Fewest ordered events per instruction."""
    max_steps: int = Field(4, ge=1, le=8)
    """Most ordered events per instruction."""
    per_request: int = Field(5, ge=1, le=50)
    """Candidates asked for in one request."""
    batch_size: int = Field(8, ge=1)
    """Requests sent per batch (the unit of progress and of the resume journal)."""
    max_requests: int | None = Field(None, ge=1)
    """Stop after this many requests; None = 4 × the requests the target needs without rejections."""
    allow_partial: bool = False
    """Commit fewer than `num_instructions` when `max_requests` runs out (otherwise the stage fails)."""
    backend: str = "openai"
    """Client from the rewards judge registry: `openai` (any OpenAI-compatible endpoint), `local`, `programmatic`,
    or `templates` (offline template replies, for CI and demos)."""
    model: str = "Qwen/Qwen3-8B"
    """Served model name (`openai`) or local model directory (`local`)."""
    temperature: float = Field(1.0, ge=0)
    """Sampling temperature (high for variety)."""
    max_tokens: int = Field(2048, ge=16)
    """Reply length limit."""
    openai: OpenAIJudgeConfig = Field(default_factory=OpenAIJudgeConfig)
    """Endpoint, concurrency, timeouts and retries of the `openai` client."""
    seed: int = 0
    """Seed of the request plan (category, step count and theme of each request) and of the split."""
    diversity: SynthDiversity = Field(default_factory=SynthDiversity)
    """Near-duplicate threshold, opening cap, banned phrases, theme hints."""
    validation: SynthValidation = Field(default_factory=SynthValidation)
    """Per-candidate checks."""
    journal: bool = True
    """Keep every reply in a journal next to the stage output so a killed run resumes without re-asking."""
    source_label: str = "synth"
    """Prefix of the `source` column (`<label>:<model>`)."""

    @model_validator(mode="after")
    def _check(self) -> SynthConfig:
        if self.min_steps > self.max_steps:
            raise ValueError(f"min_steps={self.min_steps} exceeds max_steps={self.max_steps}")
        names = [c.name for c in self.categories]
        if not names:
            raise ValueError("synth.categories is empty")
        if len(set(names)) != len(names):
            raise ValueError(f"synth.categories has duplicate names: {names}")
        return self

    @property
    def request_budget(self) -> int:
        """The most requests a run may send (`max_requests`, else 4 × the no-rejection need)."""
        if self.max_requests is not None:
            return self.max_requests
        return 4 * -(-self.num_instructions // self.per_request)
