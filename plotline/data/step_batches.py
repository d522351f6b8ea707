"""Which training instructions an RL step plans for (`data.instructions_per_step`).

The pool is visited in epochs: each epoch is a fresh seeded permutation of the pool, and step t takes the
t-th run of `per_step` consecutive entries of the concatenated epochs. Every instruction is planned once per
epoch, no two steps of an epoch repeat one, and the choice depends only on (seed, step), so a rerun of a step
plans for the same instructions.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def epoch_order(num_items: int, seed: int, epoch: int) -> list[int]:
    """The permutation of range(num_items) used in `epoch` (seeded by seed and epoch only)."""
    order = list(range(num_items))
    random.Random(f"plotline-step-batches|{seed}|{epoch}").shuffle(order)
    return order


def step_batch(items: Sequence[T], per_step: int | None, step: int, seed: int) -> list[T]:
    """The items of RL `step`: all of them when `per_step` is None or covers the pool, else `per_step` items
    taken in order from the epochs' permutations (positions step·per_step … (step+1)·per_step − 1)."""
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if per_step is None or per_step >= len(items):
        return list(items)
    if per_step < 1:
        raise ValueError(f"instructions_per_step must be >= 1, got {per_step}")
    n, orders, out = len(items), {}, []
    for pos in range(step * per_step, (step + 1) * per_step):
        epoch, offset = divmod(pos, n)
        if epoch not in orders:
            orders[epoch] = epoch_order(n, seed, epoch)
        out.append(items[orders[epoch][offset]])
    return out
