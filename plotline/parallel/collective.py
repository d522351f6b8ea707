"""Collective operations used by the update code, so that one code path serves one process and many.

`Collective()` is the single-process identity (rank 0 of 1); `AccelerateCollective` implements the same
methods over an `accelerate.Accelerator` (gloo on CPU, NCCL on GPUs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeVar

import torch

T = TypeVar("T")


class Collective:
    """One process: rank 0 of a world of 1; every reduction is the identity."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """True on the process that writes results (rank 0)."""
        return self.rank == 0

    def share(self, items: Sequence[T]) -> list[T]:
        """This rank's round-robin share of `items` (all of them in a single process)."""
        return list(items)[self.rank :: self.world_size]

    def sum_grads(self, params: Sequence[torch.nn.Parameter]) -> None:
        """Replace every parameter's gradient by its sum over ranks (a missing gradient counts as zero)."""

    def sum_floats(self, values: Sequence[float]) -> list[float]:
        """Element-wise sum of `values` over ranks."""
        return [float(v) for v in values]

    def gather(self, items: list) -> list:
        """Concatenation of every rank's `items`, in rank order (picklable objects)."""
        return list(items)

    def min_float(self, value: float) -> float:
        """Minimum of `value` over ranks."""
        return float(value)

    def max_float(self, value: float) -> float:
        """Maximum of `value` over ranks."""
        return float(value)

    def barrier(self) -> None:
        """Wait until every rank reaches this point."""


class AccelerateCollective(Collective):
    """The collective operations of an `accelerate.Accelerator` (one process per rank)."""

    def __init__(self, accelerator: Any):
        self.accelerator = accelerator
        self.rank = int(accelerator.process_index)
        self.world_size = int(accelerator.num_processes)

    def sum_grads(self, params: Sequence[torch.nn.Parameter]) -> None:
        """One fp32 all-reduce (sum) per dtype over the flattened gradients plus one presence flag per parameter.
        A parameter without a gradient on this rank contributes zeros and receives the sum; one without a
        gradient on every rank keeps `grad = None` (as in a single process, so AdamW leaves it alone)."""
        by_dtype: dict[tuple[torch.dtype, torch.device], list[torch.nn.Parameter]] = {}
        for p in params:
            by_dtype.setdefault((p.dtype, p.device), []).append(p)
        for (dtype, device), group in by_dtype.items():
            flags = torch.tensor([0.0 if p.grad is None else 1.0 for p in group], dtype=torch.float32, device=device)
            flat = torch.cat(
                [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).float() for p in group] + [flags]
            )  # summed in fp32 even for half-precision LoRA weights
            flat = self.accelerator.reduce(flat.contiguous(), reduction="sum").to(dtype)
            present = flat[-len(group) :].tolist()
            offset = 0
            for i, p in enumerate(group):
                n = p.numel()
                p.grad = flat[offset : offset + n].view_as(p).clone() if present[i] > 0 else None
                offset += n

    def sum_floats(self, values: Sequence[float]) -> list[float]:
        """Sum over ranks in float64 (on the accelerator's device, as NCCL requires)."""
        t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=self.accelerator.device)
        return [float(x) for x in self.accelerator.reduce(t, reduction="sum").cpu()]

    def gather(self, items: list) -> list:
        """All-gather of picklable objects (every rank receives the concatenation)."""
        from accelerate.utils import gather_object

        return list(gather_object(list(items)))

    def min_float(self, value: float) -> float:
        """Minimum over ranks (inf on a rank that saw nothing is neutral)."""
        vals = [v for v in self.gather([float(value)]) if not math.isnan(v)]
        return min(vals) if vals else float("nan")

    def max_float(self, value: float) -> float:
        """Maximum over ranks (−inf on a rank that saw nothing is neutral)."""
        vals = [v for v in self.gather([float(value)]) if not math.isnan(v)]
        return max(vals) if vals else float("nan")

    def barrier(self) -> None:
        """accelerator.wait_for_everyone()."""
        self.accelerator.wait_for_everyone()
