"""Per-step instruction batches: every instruction once per epoch, deterministic by (seed, step)."""

import pytest

from plotline.config import load_config
from plotline.data.step_batches import step_batch


def test_all_when_unset_or_covering():
    pool = list(range(7))
    assert step_batch(pool, None, 5, 0) == pool
    assert step_batch(pool, 7, 3, 0) == pool and step_batch(pool, 9, 3, 0) == pool


def test_each_epoch_visits_every_instruction_once():
    pool = [f"i{k}" for k in range(12)]
    per = 4  # 3 steps per epoch
    for epoch in range(3):
        seen = sum((step_batch(pool, per, s, seed=5) for s in range(3 * epoch, 3 * epoch + 3)), [])
        assert sorted(seen) == sorted(pool)  # a permutation: no repeats, none missing
    first = sum((step_batch(pool, per, s, 5) for s in range(3)), [])
    second = sum((step_batch(pool, per, s, 5) for s in range(3, 6)), [])
    assert first != second  # epochs reshuffle


def test_batches_straddle_epochs_when_pool_is_not_a_multiple():
    pool = list(range(10))
    seen = sum((step_batch(pool, 4, s, 1) for s in range(5)), [])  # 20 = two epochs exactly
    assert sorted(seen[:10]) == pool and sorted(seen[10:]) == pool
    assert len(step_batch(pool, 4, 2, 1)) == 4  # positions 8..11: two from epoch 0, two from epoch 1


def test_deterministic_and_seeded():
    pool = list(range(50))
    assert step_batch(pool, 8, 3, 7) == step_batch(pool, 8, 3, 7)
    assert step_batch(pool, 8, 3, 7) != step_batch(pool, 8, 3, 8)
    with pytest.raises(ValueError, match="step"):
        step_batch(pool, 8, -1, 7)


def test_config_field_is_validated():
    assert load_config([], ["data.instructions_per_step=16"]).data.instructions_per_step == 16
    with pytest.raises(Exception, match="instructions_per_step"):
        load_config([], ["data.instructions_per_step=0"])
