"""Reward configuration (judges, PickScore, aggregation weights). Extended by the rewards package."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from plotline._base import Section, placement


class PlanJudgeWeights(Section):
    """R_judge = Σ w·score over the plan judge's 0–1 scores (TempAct App. B: 0.4F + 0.25C + 0.25T − 0.3H)."""

    faithfulness_score: float = 0.4
    """w_F: faithfulness of the steps to the instruction."""
    coverage_score: float = 0.25
    """w_C: coverage of every event of the instruction."""
    temporal_score: float = 0.25
    """w_T: events appear in the instruction's order."""
    hallucination_score: float = -0.3
    """w_H: invented content (a penalty, hence negative)."""


class VideoJudgeWeights(Section):
    """R_video over the temporal-following judge's scores, each 0–10 normalised to [0, 1] (App. B)."""

    frame_scores: float = 0.2
    """Weight of the mean per-frame score."""
    final_score: float = 0.3
    """Weight of the overall verdict."""
    temporal_order_score: float = 0.2
    """Weight of event order."""
    physical_plausibility_score: float = 0.1
    """Weight of physical plausibility."""
    visual_consistency_score: float = 0.1
    """Weight of visual consistency across frames."""
    prompt_alignment_score: float = 0.1
    """Weight of alignment with the instruction."""


class StepJudgeWeights(Section):
    """R_step over the step-following judge's scores, each 0–10 normalised to [0, 1] (App. B)."""

    subject_score: float = 0.15
    """Weight of subject fidelity."""
    scene_score: float = 0.15
    """Weight of scene fidelity."""
    action_score: float = 0.2
    """Weight of the step's action being shown."""
    object_appearance_reasonability_score: float = 0.2
    """Weight of plausible object appearance."""
    final_score: float = 0.3
    """Weight of the overall verdict."""


class PlanRewardWeights(Section):
    """R_plan = w_judge·R_judge + w_video·mean_n R_video (DESIGN §2/§5)."""

    judge: float = 0.15
    """w_j: weight of the plan judge's R_judge."""
    video: float = 0.85
    """w_v: weight of the mean R_video over the plan's continuations."""


class ExecRewardWeights(Section):
    """R_exec = w_step·R_step + w_aes·R_aes (DESIGN §2/§5)."""

    step: float = 0.6
    """w_s: weight of the step-following reward."""
    aesthetic: float = 0.4
    """w_a: weight of the aesthetic (PickScore) reward."""


class RewardWeights(Section):
    """All aggregation weights of DESIGN §5."""

    plan_judge: PlanJudgeWeights = Field(default_factory=PlanJudgeWeights)
    """Plan judge → R_judge."""
    video: VideoJudgeWeights = Field(default_factory=VideoJudgeWeights)
    """Temporal-following judge → R_video."""
    step: StepJudgeWeights = Field(default_factory=StepJudgeWeights)
    """Step-following judge → R_step."""
    plan: PlanRewardWeights = Field(default_factory=PlanRewardWeights)
    """R_judge, R_video → R_plan."""
    exec: ExecRewardWeights = Field(default_factory=ExecRewardWeights)
    """R_step, R_aes → R_exec."""


class OpenAIJudgeConfig(Section):
    """An OpenAI-compatible chat endpoint (vLLM, Gemini, GPT, `transformers serve`)."""

    base_url: str = "http://127.0.0.1:8000/v1"
    """Endpoint root including `/v1`."""
    api_key_env: str = "PLOTLINE_JUDGE_API_KEY"
    """Name of the environment variable holding the API key (the key itself never enters a config)."""
    max_concurrency: int = placement(8, ge=1)
    """Requests in flight at once."""
    timeout_s: float = placement(60.0, gt=0)
    """Per-request timeout in seconds."""
    max_retries: int = Field(3, ge=0)
    """Retries after a failed request (connection error, timeout, 429/5xx)."""
    backoff_s: float = Field(0.5, ge=0)
    """First retry delay; doubles on each retry."""
    backoff_max_s: float = Field(8.0, ge=0)
    """Ceiling of the retry delay."""


class LocalJudgeConfig(Section):
    """In-process transformers judges loaded from local paths."""

    device: str = "cpu"
    """torch device for the judge models."""
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    """Weights dtype."""


class JudgeModelsConfig(Section):
    """Which model each judge asks (a served model name for `openai`, a local path for `local`)."""

    text: str = "Qwen/Qwen3-8B"
    """The plan judge's (text-only) model."""
    vision: str = "Qwen/Qwen3-VL-8B-Instruct"
    """The temporal- and step-following judges' vision-language model."""
    temperature: float = Field(0.0, ge=0)
    """Sampling temperature of judge replies (0: greedy)."""
    max_tokens: int = Field(1024, ge=16)
    """Reply length limit."""


class FramesConfig(Section):
    """Which decoded frames the video judges and PickScore see."""

    temporal_num_frames: int = Field(8, ge=2)
    """Frames sampled evenly over the WHOLE video for the temporal judge; first and last frame included."""
    step_window: Literal["chunk", "span"] = "chunk"
    """Step judge / PickScore window: the trained transition chunk, or the whole span of the new step."""
    step_num_frames: int = Field(4, ge=1)
    """Frames sampled evenly from the step window."""
    image_size: int = Field(448, ge=16)
    """Longest side of frames sent to VLM judges (downscaled, aspect kept)."""


class PickScoreConfig(Section):
    """PickScore aesthetic reward (CLIP-H processor + PickScore_v1 weights from local paths)."""

    model_path: str | None = None
    """Local directory of the PickScore CLIPModel (None: aesthetic reward disabled, R_aes unscored)."""
    processor_path: str | None = None
    """Local directory of the CLIP processor (defaults to model_path)."""
    normalisation: Literal["logit", "scaled", "cosine"] = "scaled"
    """`logit`: logit_scale·cos; `scaled`: logit / scale; `cosine`: (cos + 1) / 2."""
    scale: float = Field(26.0, gt=0)
    """Divisor of the `scaled` normalisation."""
    batch_size: int = Field(16, ge=1)
    """Frames per forward pass."""


class RewardsConfig(Section):
    """Judges and reward aggregation."""

    judge_backend: str = "programmatic"
    """Judge backend name from the judge registry (`local`, `openai`, `programmatic`)."""
    programmatic_provider: str | None = "world"
    """Provider of programmatic rewards (registry in plotline.rewards.scoring; `world` = the shapes world): its
    judge functions answer the `programmatic` backend, and its image-statistics stand-in scores the aesthetic term
    when `pickscore.model_path` is unset. None: no programmatic judges (the aesthetic term is then unscored)."""
    models: JudgeModelsConfig = Field(default_factory=JudgeModelsConfig)
    """Judge model names and decoding."""
    openai: OpenAIJudgeConfig = Field(default_factory=OpenAIJudgeConfig)
    """Settings of the `openai` backend."""
    local: LocalJudgeConfig = Field(default_factory=LocalJudgeConfig)
    """Settings of the `local` backend."""
    frames: FramesConfig = Field(default_factory=FramesConfig)
    """Frame sampling for the video judges and PickScore."""
    pickscore: PickScoreConfig = Field(default_factory=PickScoreConfig)
    """PickScore aesthetic reward."""
    weights: RewardWeights = Field(default_factory=RewardWeights)
    """Aggregation weights (DESIGN §5, TempAct App. B)."""
    min_frame_fraction: float = Field(0.5, gt=0, le=1)
    """A temporal reply with fewer than this fraction of the expected frame scores is unscored; above it the
    list is padded with its mean (status repaired)."""
    max_unscored_fraction: float = Field(0.5, ge=0, le=1)
    """Largest share of one judge's replies in a step that may be unscored (checked per judge: plan, temporal,
    step, and PickScore when a model scores it). Above it the score stage fails, listing the reasons, and
    commits nothing: an outage must not become a step trained on a handful of survivors. 1.0 disables the check."""
    cache_dir: str | None = None
    """Directory of the on-disk judge-call cache (None: in-memory for one stage run)."""
    emulated_latency_s: float = placement(0.0, ge=0)
    """Benchmark and test knob, 0 in every preset: seconds each judge request that reaches the backend (not a cache
    hit) waits before it is answered, emulating a remote VLM judge server (plotline/rewards/judges/delayed.py).
    Scores do not change (only the recorded latencies), so cache keys leave it out."""
