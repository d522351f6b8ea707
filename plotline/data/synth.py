"""LLM-backed synthesis of temporally structured instructions (the library behind the `synthesize` stage).

Flow: requests are planned one at a time (category with the largest unmet quota, a seeded step count and
theme), sent in batches through a rewards judge backend (`openai`, `local` or `programmatic`), and every reply
is parsed, checked and deduplicated in request order until the target is met. Replies are kept in a
`ReplyJournal`; a rerun replays journaled replies instead of asking again, so a killed run continues where it
stopped and, given the same replies, selects exactly the same instructions.
"""

from __future__ import annotations

import hashlib
import json
import math
import posixpath
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from plotline.data.synth_config import SynthConfig
from plotline.data.synth_validate import Candidate, ReplyError, check_candidate, parse_reply
from plotline.data.textsim import DuplicateIndex, normalise, words
from plotline.rewards.config import JudgeModelsConfig, RewardsConfig
from plotline.rewards.judges.base import JudgeBackend, JudgeRequest, JudgeResponse

T = TypeVar("T")
Progress = Callable[[Iterable[T], int | None, str], Iterator[T]]

SYNTH_KIND = "synth"
"""JudgeRequest.kind of synthesis requests (a programmatic backend registers its function under it)."""

STATUSES = ("accepted", "rejected", "unparsed", "failed")
"""Candidate row statuses: accepted/rejected candidates, replies without a list, failed requests."""


class SynthesisShortfall(RuntimeError):
    """The request budget ran out before enough candidates were accepted; the message summarises why."""


# --- requests ------------------------------------------------------------------------------------------------
SYSTEM_PROMPT = (
    "You write prompts for testing whether text-to-video models show events in the order a prompt "
    "gives. Every prompt describes one continuous shot with concrete, visible subjects, objects, "
    "setting and motion, in the present tense, without dialogue, on-screen text or scene cuts."
)


def request_text(
    category: str, description: str, num_steps: int, count: int, cfg: SynthConfig, theme: str, avoid: Sequence[str]
) -> str:
    """The user message of one synthesis request."""
    v = cfg.validation
    events = (
        "exactly one visible event"
        if num_steps == 1
        else f"exactly {num_steps} visible events that happen one after another, in the order they are written"
    )
    lines = [
        f'Write {count} different video prompts in the category "{category}"'
        + (f" ({description})." if description else "."),
        f"Each prompt has {v.min_words} to {v.max_words} words and shows {events}.",
    ]
    if num_steps >= 2:
        lines.append("Make the order explicit with words such as first, then, after that, next or finally.")
    lines.append(
        f"For each prompt also list its {num_steps} event(s) as short steps, in order, reusing the prompt's own words."
    )
    if theme:
        lines.append(
            f"Suggested setting for at least one prompt: {theme}. Use a different subject and setting in each prompt."
        )
    if avoid:
        lines.append("Do not begin a prompt with: " + "; ".join(f'"{a}"' for a in avoid) + ".")
    lines.append('Answer with JSON only: {"instructions": [{"prompt": "...", "steps": ["...", ...]}, ...]}')
    return "\n".join(lines)


@dataclass(frozen=True)
class PlannedRequest:
    """One synthesis request: its index in the run, what it asks for, and the judge-client request."""

    index: int
    category: str
    num_steps: int
    theme: str
    request: JudgeRequest


def synth_rewards_config(cfg: SynthConfig) -> RewardsConfig:
    """A RewardsConfig that makes a judge backend sample synthesis replies (model, temperature, endpoint)."""
    return RewardsConfig(
        judge_backend=cfg.backend,
        openai=cfg.openai,
        models=JudgeModelsConfig(
            text=cfg.model, vision=cfg.model, temperature=cfg.temperature, max_tokens=cfg.max_tokens
        ),
    )


def make_backend(cfg: SynthConfig) -> JudgeBackend:
    """The judge backend `cfg.backend` configured for synthesis."""
    from plotline.data import synth_offline  # noqa: F401 - registers the `templates` backend
    from plotline.rewards.judges import create_backend

    return create_backend(synth_rewards_config(cfg), cfg.backend)


# --- journal -------------------------------------------------------------------------------------------------
def journal_key(cfg: SynthConfig) -> str:
    """Folder name of a spec's journal: sha256 of the settings that shape requests and replies (not the
    endpoint, budget or batching: a journal made through one server is replayed through another)."""
    data = cfg.model_dump(mode="json", exclude={"max_requests", "allow_partial", "batch_size", "journal", "openai"})
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:20]


class ReplyJournal:
    """Replies of successful requests, one file per batch under `prefix` of a store filesystem.

    Files are created once (create-if-absent) and carry the sha256 of their entries; a file that does not
    decode or whose checksum fails is ignored, and an entry is replayed only for a request with the same
    cache key (same model, prompt and index), so a journal can never inject a reply into another request.
    It is not an artifact: nothing reads it except a later synthesis of the same spec."""

    def __init__(self, fs, prefix: str):
        self.fs, self.prefix = fs, prefix.rstrip("/")
        self.skipped_files: list[str] = []

    def load(self) -> dict[int, dict]:
        """index → entry of every verified journal entry."""
        out: dict[int, dict] = {}
        for rel in self.fs.list_files(self.prefix):
            if not rel.endswith(".json"):
                continue
            try:
                body = json.loads(self.fs.read_bytes(rel))
                entries = body["entries"]
                if hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest() != body["sha256"]:
                    raise ValueError("checksum mismatch")
                for e in entries:
                    if isinstance(e.get("index"), int) and isinstance(e.get("raw"), str) and e.get("cache_key"):
                        out[e["index"]] = e
            except Exception:  # noqa: BLE001 - a torn or foreign file is skipped, never trusted
                self.skipped_files.append(rel)
        return out

    def append(self, entries: list[dict]) -> None:
        """Write one batch file holding `entries` (no-op for an empty list)."""
        if not entries:
            return
        from plotline.store.errors import AlreadyCommitted

        body = {"entries": entries, "sha256": hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()}
        first = min(e["index"] for e in entries)
        name = f"batch-{first:07d}-{body['sha256'][:8]}.json"
        try:
            self.fs.create_exclusive(posixpath.join(self.prefix, name), json.dumps(body).encode())
        except AlreadyCommitted:
            pass


class MemoryJournal:
    """A journal that lives only as long as the object (no resume); used when journaling is off."""

    def __init__(self):
        self.entries: dict[int, dict] = {}
        self.skipped_files: list[str] = []

    def load(self) -> dict[int, dict]:
        """The entries appended so far."""
        return dict(self.entries)

    def append(self, entries: list[dict]) -> None:
        """Keep `entries` in memory."""
        for e in entries:
            self.entries[e["index"]] = e


# --- selection -----------------------------------------------------------------------------------------------
def category_quotas(cfg: SynthConfig) -> dict[str, int]:
    """Accepted instructions per category: weight shares of `num_instructions`, largest remainder rounding."""
    total = sum(c.weight for c in cfg.categories)
    exact = {c.name: cfg.num_instructions * c.weight / total for c in cfg.categories}
    quotas = {k: math.floor(v) for k, v in exact.items()}
    short = cfg.num_instructions - sum(quotas.values())
    for name in sorted(exact, key=lambda k: (-(exact[k] - quotas[k]), k))[:short]:
        quotas[name] += 1
    return quotas


def reason_class(reason: str) -> str:
    """A reason with numbers and quoted text blanked, for counting rejections by kind."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "…", reason)
    text = re.sub(r"\b(?:s|i|world)-[0-9a-z-]+", "<id>", text)
    return re.sub(r"\d+(?:\.\d+)?", "#", text)


def instruction_id(prompt: str) -> str:
    """Stable id of a synthesised instruction: `s-` + sha1 of its canonical form."""
    return "s-" + hashlib.sha1(normalise(prompt).encode()).hexdigest()[:12]


@dataclass
class Selection:
    """The accepted set so far plus a row for every candidate seen, in request order."""

    cfg: SynthConfig
    quotas: dict[str, int] = field(init=False)
    accepted: list[dict] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    openings: Counter = field(default_factory=Counter)
    per_category: Counter = field(default_factory=Counter)

    def __post_init__(self):
        d = self.cfg.diversity
        self.quotas = category_quotas(self.cfg)
        self.index = DuplicateIndex(d.near_duplicate_jaccard, d.shingle_words, seed=self.cfg.seed)
        self.opening_cap = max(1, math.floor(d.max_opening_share * self.cfg.num_instructions))

    @property
    def done(self) -> bool:
        """True once every category quota is met."""
        return all(self.per_category[k] >= q for k, q in self.quotas.items())

    def deficits(self) -> dict[str, int]:
        """Unmet quota per category."""
        return {k: q - self.per_category[k] for k, q in self.quotas.items() if q > self.per_category[k]}

    def opening(self, prompt: str) -> str:
        """The first `opening_words` words of a prompt (lower case)."""
        return " ".join(words(prompt)[: self.cfg.diversity.opening_words])

    def common_openings(self, limit: int) -> list[str]:
        """The most frequent openings of accepted prompts (seen at least twice)."""
        return [o for o, n in self.openings.most_common(limit) if n >= 2]

    def _row(
        self,
        planned: PlannedRequest,
        k: int,
        cand: Candidate | None,
        status: str,
        reason: str | None,
        duplicate_of: str | None = None,
        iid: str | None = None,
    ) -> dict:
        return {
            "candidate_id": f"r{planned.index:06d}-c{k:02d}",
            "request_index": planned.index,
            "category": planned.category,
            "requested_steps": planned.num_steps,
            "prompt": cand.prompt if cand else None,
            "steps": list(cand.steps or []) if cand else [],
            "status": status,
            "reason": reason,
            "duplicate_of": duplicate_of,
            "instruction_id": iid,
            "split": None,
            "model": planned.request.model,
        }

    def consume(self, planned: PlannedRequest, response: JudgeResponse) -> None:
        """Read one reply and accept or reject each of its candidates in order (stops once done)."""
        if not response.ok:
            self.rows.append(self._row(planned, 0, None, "failed", f"request failed: {response.error}"))
            return
        try:
            candidates = parse_reply(response.raw)
        except ReplyError as exc:
            self.rows.append(self._row(planned, 0, None, "unparsed", f"reply: {exc}"))
            return
        cfg = self.cfg
        for k, cand in enumerate(candidates):
            if self.done:
                break
            problems = check_candidate(
                cand, planned.num_steps, cfg.validation, cfg.min_steps, cfg.max_steps, cfg.diversity.banned_phrases
            )
            match = self.index.find(cand.prompt) if cand.prompt else None
            if match is not None:
                what = (
                    "exact duplicate" if match.kind == "exact" else f"near-duplicate (jaccard {match.similarity:.2f})"
                )
                problems.append(f"{what} of {match.key}")
            if problems or not cand.prompt:  # check_candidate reports a missing prompt, so this is `if problems`
                self.rows.append(
                    self._row(planned, k, cand, "rejected", "; ".join(problems), match.key if match else None)
                )
                continue
            opening = self.opening(cand.prompt)
            if self.openings[opening] >= self.opening_cap:
                self.rows.append(
                    self._row(
                        planned, k, cand, "rejected", f"opening {opening!r} already used {self.opening_cap} time(s)"
                    )
                )
                continue
            if self.per_category[planned.category] >= self.quotas[planned.category]:
                self.rows.append(self._row(planned, k, cand, "rejected", f"category {planned.category!r} is full"))
                continue
            iid = instruction_id(cand.prompt)
            self.index.add(iid, cand.prompt)
            self.openings[opening] += 1
            self.per_category[planned.category] += 1
            self.accepted.append(
                {
                    "instruction_id": iid,
                    "prompt": cand.prompt,
                    "category": planned.category,
                    "steps": list(cand.steps or []),
                    "request_index": planned.index,
                }
            )
            self.rows.append(self._row(planned, k, cand, "accepted", None, iid=iid))


def assign_splits(accepted: list[dict], eval_fraction: float, seed: int) -> dict[str, str]:
    """instruction_id → split: per category, eval_fraction × n prompts (rounded half up; ordered by a seeded
    hash) go to `eval`, the rest to `train`."""
    by_cat: dict[str, list[dict]] = {}
    for row in accepted:
        by_cat.setdefault(row["category"], []).append(row)
    out = {}
    for rows in by_cat.values():
        ranked = sorted(rows, key=lambda r: hashlib.sha256(f"{seed}|{r['instruction_id']}".encode()).hexdigest())
        n_eval = math.floor(eval_fraction * len(rows) + 0.5)
        for i, r in enumerate(ranked):
            out[r["instruction_id"]] = "eval" if i < n_eval else "train"
    return out


# --- the run -------------------------------------------------------------------------------------------------
@dataclass
class SynthesisResult:
    """Instructions rows, candidate rows and run statistics of one synthesis."""

    instructions: list[dict]
    candidates: list[dict]
    summary: dict


def plan_request(index: int, selection: Selection, cfg: SynthConfig, pending: Counter | None = None) -> PlannedRequest:
    """Request `index`: the category with the largest unmet quota share after the candidates already asked for
    in this batch (`pending` requests per category; seeded choice among the largest), a seeded step count in
    [min_steps, max_steps] and theme, and the currently common openings to avoid."""
    rng = random.Random(f"{cfg.seed}|request|{index}")
    pending = pending or Counter()
    deficits = selection.deficits() or {c.name: 1 for c in cfg.categories}
    weights = {c.name: c.weight for c in cfg.categories}
    share = {k: (v - pending[k] * cfg.per_request) / weights[k] for k, v in deficits.items()}
    top = max(share.values())
    category = rng.choice(sorted(k for k, v in share.items() if v >= top - 1e-9))
    description = next(c.description for c in cfg.categories if c.name == category)
    num_steps = rng.randint(cfg.min_steps, cfg.max_steps)
    theme = rng.choice(cfg.diversity.themes) if cfg.diversity.themes else ""
    avoid = selection.common_openings(cfg.diversity.avoid_openings_in_prompt)
    user = request_text(category, description, num_steps, cfg.per_request, cfg, theme, avoid)
    request = JudgeRequest(
        SYNTH_KIND,
        cfg.model,
        SYSTEM_PROMPT,
        user,
        meta={"index": index, "category": category, "num_steps": num_steps, "theme": theme},
    )
    return PlannedRequest(index, category, num_steps, theme, request)


def _plain(iterable: Iterable[T], total: int | None = None, description: str = "") -> Iterator[T]:
    yield from iterable


def synthesize(
    cfg: SynthConfig, backend: JudgeBackend, journal=None, progress: Progress | None = None, source: str | None = None
) -> SynthesisResult:
    """Run a synthesis to its target (or budget): plan, send (skipping journaled requests), journal, select,
    split. Raises SynthesisShortfall when the budget ends short of the target and partial output is not allowed."""
    journal = journal if journal is not None else MemoryJournal()
    progress = progress or _plain
    replayed = journal.load()
    selection = Selection(cfg)
    budget = cfg.request_budget
    sent = reused = failed = 0
    next_index = 0
    batches = range(0, budget, cfg.batch_size)
    for start in progress(batches, len(batches), "synthesize"):
        if selection.done:
            break
        stop = min(start + cfg.batch_size, budget)
        planned: list[PlannedRequest] = []
        pending: Counter[str] = Counter()
        for i in range(start, stop):
            planned.append(plan_request(i, selection, cfg, pending))
            pending[planned[-1].category] += 1
        todo = [
            p for p in planned if not (p.index in replayed and replayed[p.index]["cache_key"] == p.request.cache_key)
        ]
        fresh = dict(zip((p.index for p in todo), backend.complete([p.request for p in todo]))) if todo else {}
        journal.append(
            [
                {
                    "index": p.index,
                    "cache_key": p.request.cache_key,
                    "raw": fresh[p.index].raw,
                    "model": p.request.model,
                    "latency_s": fresh[p.index].latency_s,
                }
                for p in todo
                if fresh[p.index].ok
            ]
        )
        for p in planned:
            if p.index in fresh:
                response = fresh[p.index]
                sent += 1
                failed += not response.ok
            else:
                response = JudgeResponse(replayed[p.index]["raw"], 0.0, cached=True)
                reused += 1
            selection.consume(p, response)
            next_index = p.index + 1
            if selection.done:
                break
        # requests planned after the target was met in this batch are not consumed (their replies stay journaled)
    splits = assign_splits(selection.accepted, cfg.eval_fraction, cfg.seed)
    label = source or f"{cfg.source_label}:{cfg.model}"
    instructions = [
        {
            "instruction_id": r["instruction_id"],
            "prompt": r["prompt"],
            "category": r["category"],
            "split": splits[r["instruction_id"]],
            "steps": r["steps"],
            "source": label,
        }
        for r in selection.accepted
    ]
    for row in selection.rows:
        if row["instruction_id"]:
            row["split"] = splits[row["instruction_id"]]
    statuses = Counter(r["status"] for r in selection.rows)
    reasons = Counter(
        reason_class(part) for r in selection.rows if r["status"] != "accepted" for part in r["reason"].split("; ")
    )
    summary = {
        "target": cfg.num_instructions,
        "accepted": len(instructions),
        "requests": next_index,
        "requests_sent": sent,
        "requests_replayed": reused,
        "requests_failed": failed,
        "candidates": sum(1 for r in selection.rows if r["prompt"] is not None),
        "status_counts": dict(statuses),
        "top_rejections": dict(reasons.most_common(8)),
        "per_category": dict(selection.per_category),
        "quotas": selection.quotas,
        "splits": dict(Counter(r["split"] for r in instructions)),
        "journal_files_skipped": len(journal.skipped_files),
        "model": cfg.model,
        "backend": cfg.backend,
    }
    if len(instructions) < cfg.num_instructions and not (cfg.allow_partial and instructions):
        why = ", ".join(f"{k} ×{v}" for k, v in reasons.most_common(5)) or "no rejections recorded"
        raise SynthesisShortfall(
            f"synthesis accepted {len(instructions)} of {cfg.num_instructions} instructions after {next_index} "
            f"request(s) ({sent} sent now, {reused} replayed from the journal, {failed} failed); most common "
            f"rejections: {why}. Raise synth.max_requests (journaled replies are reused) or set "
            "synth.allow_partial=true."
        )
    return SynthesisResult(instructions, selection.rows, summary)


def check_prompt_list(rows: Sequence[dict], cfg: SynthConfig) -> list[dict]:
    """Run existing instructions (`prompt`, optional `steps`, `category`) through the candidate checks and
    duplicate detection in order; one result row per input (`status`, `reason`, `duplicate_of`). Quotas and the
    opening cap are not applied. Useful to vet a prompt list before importing it."""
    index = DuplicateIndex(cfg.diversity.near_duplicate_jaccard, cfg.diversity.shingle_words, seed=cfg.seed)
    out = []
    for i, row in enumerate(rows):
        steps = row.get("steps")
        cand = Candidate(row.get("prompt"), list(steps) if steps else None)
        n = len(cand.steps) if cand.steps else 0
        problems = check_candidate(cand, n, cfg.validation, cfg.min_steps, cfg.max_steps, cfg.diversity.banned_phrases)
        dup = None
        if not problems and cand.prompt:  # check_candidate reports a missing prompt: this is `if not problems`
            match = index.find(cand.prompt)
            if match is not None:
                dup = match.key
                problems.append(
                    ("exact duplicate" if match.kind == "exact" else f"near-duplicate (jaccard {match.similarity:.2f})")
                    + f" of {match.key}"
                )
            else:
                index.add(str(row.get("id", i)), cand.prompt)
        out.append(
            {
                "id": row.get("id", i),
                "status": "rejected" if problems else "accepted",
                "reason": "; ".join(problems) or None,
                "duplicate_of": dup,
            }
        )
    return out
