"""Benchmark prompts: the subsets of an evaluation, each with its video geometry (J step prompts of L latent
frames, K frames in all)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from plotline.eval.config import EvalConfig, EvalSubset
from plotline.video import VideoConfig


class BenchmarkError(ValueError):
    """A subset cannot be loaded (missing source, no rows, bad geometry); the message names the subset."""


@dataclass(frozen=True)
class Geometry:
    """Video geometry of one subset: J step prompts, L latent frames per step, K latent frames."""

    num_steps: int
    frames_per_step: int
    num_frames: int


@dataclass(frozen=True)
class BenchmarkPrompt:
    """One benchmark prompt of a subset, with its ground-truth steps (possibly empty) and geometry."""

    prompt_id: str
    prompt: str
    category: str
    subset: str
    steps: tuple[str, ...]
    geometry: Geometry


def subset_geometry(subset: EvalSubset, video: VideoConfig) -> Geometry:
    """J, L, K of a subset: its own values, else the run's video geometry (K = J·L when J is given).
    K must be a multiple of the chunk size and the J spans of L frames must fit in K."""
    L = subset.latent_frames_per_step or video.latent_frames_per_step
    if subset.num_steps is not None:
        J = subset.num_steps
        K = subset.target_latent_frames or J * L
    else:
        K = subset.target_latent_frames or video.target_latent_frames
        J = -(-K // L)
    chunk = video.frames_per_chunk
    if L % chunk or K % chunk:
        raise BenchmarkError(
            f"eval subset {subset.name!r}: L={L} and K={K} must be multiples of the chunk size {chunk}"
        )
    if -(-K // L) != J:
        raise BenchmarkError(
            f"eval subset {subset.name!r}: K={K} latent frames with L={L} give {-(-K // L)} spans, not J={J}"
        )
    return Geometry(J, L, K)


def default_subsets() -> list[EvalSubset]:
    """The subsets used when none are configured: the eval split of the run's instructions."""
    return [EvalSubset(name="eval", source="instructions", split="eval")]


RowSource = Callable[[EvalSubset], list[dict]]


def rows_from_instructions(rows: Sequence[dict], subset: EvalSubset) -> list[dict]:
    """Rows of an instructions table that belong to the subset's split."""
    return [r for r in rows if subset.split == "all" or r.get("split", "eval") == subset.split]


def load_subset(subset: EvalSubset, video: VideoConfig, rows_for: RowSource) -> list[BenchmarkPrompt]:
    """The prompts of one subset (category filter and limit applied) with their geometry."""
    geometry = subset_geometry(subset, video)
    rows = rows_for(subset)
    if subset.categories:
        wanted = set(subset.categories)
        rows = [r for r in rows if r.get("category") in wanted]
    if subset.limit is not None:
        rows = rows[: subset.limit]
    if not rows:
        raise BenchmarkError(
            f"eval subset {subset.name!r} ({subset.source}"
            f"{' ' + subset.path if subset.path else ''}, split {subset.split}) has no prompts"
        )
    out = []
    seen: set[str] = set()
    for r in rows:
        pid = str(r["instruction_id"])
        if pid in seen:
            raise BenchmarkError(f"eval subset {subset.name!r}: prompt id {pid!r} occurs twice")
        seen.add(pid)
        out.append(
            BenchmarkPrompt(
                pid,
                str(r["prompt"]),
                str(r.get("category") or "general"),
                subset.name,
                tuple(r.get("steps") or ()),
                geometry,
            )
        )
    return out


def load_benchmark(config: EvalConfig, video: VideoConfig, rows_for: RowSource) -> list[BenchmarkPrompt]:
    """Every prompt of every configured subset (the defaults when none are configured), in subset order."""
    prompts: list[BenchmarkPrompt] = []
    for subset in config.subsets or default_subsets():
        prompts += load_subset(subset, video, rows_for)
    return prompts


def file_digest(config: EvalConfig) -> str:
    """sha256 over the files of `file` subsets (so an edited prompt list is re-evaluated under the same config)."""
    h = hashlib.sha256()
    for s in config.subsets:
        if s.source == "file" and s.path and Path(s.path).is_file():
            h.update(s.name.encode())
            h.update(hashlib.sha256(Path(s.path).read_bytes()).digest())
    return h.hexdigest()


def file_rows(subset: EvalSubset) -> list[dict]:
    """Rows of a `file` subset through the prompt-list importer (unusable rows are reported with line numbers)."""
    from plotline.data.importer import import_instructions

    if subset.path is None:
        raise ValueError(f"eval subset {subset.name!r}: a `file` subset needs `path`")
    return import_instructions(subset.path, split="eval", source=f"file:{Path(subset.path).name}")


def world_rows(world_config, subset: EvalSubset) -> list[dict]:
    """Instruction rows generated from the world config (the subset's split)."""
    from plotline.world.instructions import instruction_rows

    return rows_from_instructions(instruction_rows(world_config), subset)


def prompt_file_name(sample_id: str) -> str:
    """A safe, unique file stem for a sample id (ids may contain any character)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in sample_id)[-60:]
    return f"{safe}-{hashlib.sha1(sample_id.encode()).hexdigest()[:8]}"
