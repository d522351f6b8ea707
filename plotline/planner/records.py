"""Plan records: one sampled, parsed and masked plan — the rows of the plans artifact."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


@dataclass
class PlanRecord:
    """One plan s^m for instruction c (a row of the plans artifact; see data_contracts/kinds/plans.py)."""

    plan_id: str
    instruction_id: str
    plan_index: int
    prompt: str
    """The global instruction c."""
    num_steps: int
    """J."""
    steps: list[str]
    """Exactly J unsmoothed steps (what the plan judge sees)."""
    smoothed_steps: list[str]
    """Smooth(s_j, s_{j+1}) for j < J, s_J last (what the executor is conditioned on)."""
    format_reward: float
    parse_status: str
    raw_text: str
    prompt_token_ids: list[int]
    completion_token_ids: list[int]
    completion_mask: list[int]
    """1 = trained token; the thinking block and padding are 0."""
    old_logprobs: list[float] | None
    """fp32 per-token log-probs of the completion under the sampling weights (None until recorded)."""
    adapter_version: str
    backend: str
    seed: int
    finish_reason: str = ""
    error: str | None = None
    split: str = "train"
    extra: dict = field(default_factory=dict, repr=False)

    def to_row(self) -> dict:
        """Column dict for the plans table (without `extra`)."""
        row = asdict(self)
        row.pop("extra")
        return row

    @classmethod
    def from_row(cls, row: dict) -> PlanRecord:
        """Inverse of `to_row` (unknown columns are kept in `extra`)."""
        names = {f.name for f in fields(cls)} - {"extra"}
        known = {k: v for k, v in row.items() if k in names}
        rec = cls(**known)
        rec.extra = {k: v for k, v in row.items() if k not in names}
        return rec


def make_plan_id(instruction_id: str, plan_index: int) -> str:
    """Stable id of plan m of an instruction."""
    return f"{instruction_id}#m{plan_index}"


def check_records(records: list[PlanRecord]) -> None:
    """Row-level invariants the table suite cannot see (list lengths); raises ValueError naming the plan."""
    for r in records:
        if len(r.steps) != r.num_steps or len(r.smoothed_steps) != r.num_steps:
            raise ValueError(
                f"plan {r.plan_id}: {len(r.steps)} steps / {len(r.smoothed_steps)} smoothed, expected {r.num_steps}"
            )
        if len(r.completion_mask) != len(r.completion_token_ids):
            raise ValueError(
                f"plan {r.plan_id}: mask length {len(r.completion_mask)} != {len(r.completion_token_ids)} tokens"
            )
        if r.old_logprobs is not None and r.error is None and len(r.old_logprobs) != len(r.completion_token_ids):
            raise ValueError(
                f"plan {r.plan_id}: {len(r.old_logprobs)} old log-probs for {len(r.completion_token_ids)} tokens"
            )
