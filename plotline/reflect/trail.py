"""The audit trail of reflective generation (the `reflections` artifact kind): one row per critic call
(`critique`), remedy decision (`decision`: accept / regenerate / replan), planner revision (`revision`), chosen
candidate of a span (`choice`) and finished video (`final`), each with the video's running cost counters.

Also the views `plotline audit` and the evaluation report show: per-video summaries and per-condition cost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

EVENTS = ("critique", "decision", "revision", "choice", "final")
"""Trail event types, in the order they occur within a span."""
DECISIONS = ("accept", "regenerate", "replan")
"""What the loop decided about a span: keep the best candidate, or which remedy to run."""


class TrailRecorder:
    """Collects the trail rows of one video; every row carries the budget counters after the event."""

    def __init__(self, video_id: str, instruction_id: str, condition: str, budget, base_chunks: int):
        self.video_id, self.instruction_id, self.condition = video_id, instruction_id, condition
        self.budget, self.base_chunks = budget, base_chunks
        self.rows: list[dict[str, Any]] = []

    def add(
        self,
        event: str,
        span: int,
        round_: int,
        *,
        candidate: int | None = None,
        step_prompt: str | None = None,
        score: float | None = None,
        status: str | None = None,
        decision: str | None = None,
        reason: str | None = None,
        feedback: str | None = None,
        memory: Sequence[str] = (),
        steps: Sequence[str] = (),
        raw: str | None = None,
        budget: Sequence[str] = (),
        latency_s: float = 0.0,
        video_path: str | None = None,
    ) -> dict:
        """Append one row (see data_contracts/kinds/reflections.py for the columns)."""
        if event not in EVENTS:
            raise ValueError(f"unknown trail event {event!r}; expected one of {EVENTS}")
        if decision is not None and decision not in DECISIONS:
            raise ValueError(f"unknown decision {decision!r}; expected one of {DECISIONS}")
        seq = len(self.rows)
        row = {
            "event_id": f"{self.video_id}#{seq:04d}",
            "video_id": self.video_id,
            "instruction_id": self.instruction_id,
            "condition": self.condition,
            "seq": seq,
            "span": span,
            "round": round_,
            "event": event,
            "candidate": candidate,
            "step_prompt": step_prompt,
            "score": None if score is None else float(score),
            "status": status,
            "decision": decision,
            "reason": reason,
            "feedback": feedback or None,
            "memory": list(memory),
            "steps": list(steps),
            "raw": raw,
            "budget": ",".join(budget) or None,
            "latency_s": float(latency_s),
            "video_path": video_path,
            "base_chunks": self.base_chunks,
            **self.budget.counters(),
        }
        self.rows.append(row)
        return row

    def critique(self, c, round_: int, memory: Sequence[str]) -> dict:
        """Row of one critic call (a Critique)."""
        return self.add(
            "critique",
            c.span,
            round_,
            candidate=c.candidate,
            step_prompt=c.step,
            score=c.score,
            status=c.status,
            reason=c.reason,
            feedback=c.feedback,
            memory=memory,
            raw=c.raw,
            latency_s=c.latency_s,
        )


def video_summaries(rows: Sequence[dict]) -> list[dict]:
    """One line per video: spans, critic calls, regenerations, replans, chunk generations vs one open-loop pass,
    decisions taken, the mean chosen critic score and the budget limits that were hit."""
    by_video: dict[str, list[dict]] = {}
    for r in rows:
        by_video.setdefault(r["video_id"], []).append(r)
    out = []
    for vid, part in by_video.items():
        part = sorted(part, key=lambda r: r["seq"])
        last = part[-1]
        choices = [r["score"] for r in part if r["event"] == "choice" and r["score"] is not None]
        decisions = Counter(r["decision"] for r in part if r["event"] == "decision")
        hits = sorted({h for r in part if isinstance(r["budget"], str) and r["budget"] for h in r["budget"].split(",")})
        out.append(
            {
                "video_id": vid,
                "condition": last["condition"],
                "spans": sum(r["event"] == "choice" for r in part),
                "critic_calls": last["critic_calls"],
                "regenerations": last["regenerations"],
                "replans": last["replans"],
                "chunk_generations": last["chunk_generations"],
                "base_chunks": last["base_chunks"],
                "decisions": ", ".join(f"{k}×{v}" for k, v in sorted(decisions.items())),
                "mean_chosen_score": sum(choices) / len(choices) if choices else None,
                "budget_hit": ",".join(hits) or None,
            }
        )
    return out


def condition_costs(rows: Sequence[dict]) -> list[dict]:
    """Per condition: videos, total critic calls, regenerations, replans, chunk generations, the chunks one
    open-loop pass of the same videos takes, their ratio, and how many videos hit a budget limit."""
    groups: dict[str, list[dict]] = {}
    for s in video_summaries(rows):
        groups.setdefault(s["condition"], []).append(s)
    out = []
    for cond, vids in groups.items():
        chunks, base = sum(v["chunk_generations"] for v in vids), sum(v["base_chunks"] for v in vids)
        out.append(
            {
                "condition": cond,
                "videos": len(vids),
                "critic_calls": sum(v["critic_calls"] for v in vids),
                "regenerations": sum(v["regenerations"] for v in vids),
                "replans": sum(v["replans"] for v in vids),
                "chunk_generations": chunks,
                "open_loop_chunks": base,
                "chunk_ratio": chunks / base if base else None,
                "budget_hit_videos": sum(v["budget_hit"] is not None for v in vids),
            }
        )
    return out


def _clip(text: str | None, n: int = 90) -> str | None:
    return text if text is None or len(text) <= n else text[: n - 1] + "…"


def audit_detail(table) -> dict[str, list[dict]]:
    """What `plotline audit` prints for a `reflections` table: one line per video (cost, decisions, budget
    hits) and every event of every span (critic calls with candidate scores, decisions with their reasons,
    revisions with the revised step, the chosen candidate)."""
    rows = table.to_pylist()
    events = [
        {
            "video_id": r["video_id"],
            "span": r["span"],
            "round": r["round"],
            "event": r["event"],
            "candidate": r["candidate"],
            "score": r["score"],
            "decision": r["decision"] or r["status"],
            "step_prompt": _clip(r["step_prompt"], 50),
            "reason": _clip(r["reason"] or r["feedback"]),
            "budget": r["budget"],
        }
        for r in rows
        if r["event"] != "final"
    ]
    return {"reflection videos": video_summaries(rows), "reflection events": events}
