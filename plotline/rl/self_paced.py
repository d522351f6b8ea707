"""Self-Paced GRPO: competence-aware weights over reward terms of increasing abstraction (DESIGN §5).

w = softmax(α·g),  g_j = sigmoid(mean(r_j) − τ_j) + β·(Hoyer(r_{j−1}) − Hoyer(r_j)),
Hoyer(r) = (√G − ‖r‖₁/‖r‖₂) / (√G − 1) over the G rewards of a group; the j = 1 term has no predecessor
(its Hoyer difference is 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd


def hoyer(r: Sequence[float] | np.ndarray) -> float:
    """Hoyer sparsity of a reward vector: 0 when all entries are equal in size, 1 when only one is non-zero.
    Defined as 0 for G < 2 or an all-zero vector."""
    a = np.abs(np.asarray(r, dtype=np.float64))
    G = a.size
    l2 = float(np.sqrt((a**2).sum()))
    if G < 2 or l2 == 0.0:
        return 0.0
    return float((np.sqrt(G) - a.sum() / l2) / (np.sqrt(G) - 1.0))


def self_paced_weights(terms: np.ndarray, thresholds: Sequence[float], alpha: float, beta: float) -> np.ndarray:
    """Weights w (K,) of the K reward terms of one group; `terms` is (G, K), column j = r_j over the group."""
    terms = np.asarray(terms, dtype=np.float64)
    if terms.ndim != 2 or terms.shape[1] != len(thresholds):
        raise ValueError(f"terms must be (G, {len(thresholds)}), got {terms.shape}")
    h = np.array([hoyer(terms[:, j]) for j in range(terms.shape[1])])
    prev = np.concatenate([[h[0]], h[:-1]])  # j = 1: no predecessor, difference 0
    g = 1.0 / (1.0 + np.exp(-(terms.mean(axis=0) - np.asarray(thresholds, dtype=np.float64)))) + beta * (prev - h)
    z = alpha * g
    z = np.exp(z - z.max())
    return z / z.sum()


def self_paced_rewards(
    terms: np.ndarray, groups: Sequence[Any], thresholds: Sequence[float], alpha: float, beta: float
) -> tuple[np.ndarray, dict[Any, np.ndarray]]:
    """Per-sample rewards Σ_j w_j^g·r_j with weights computed per group g from its fully scored members.
    Rows with any unscored (NaN) term get NaN; returns (rewards, {group: weights})."""
    terms = np.asarray(terms, dtype=np.float64)
    keys = pd.Series(list(groups), dtype=object)
    out = np.full(terms.shape[0], np.nan)
    weights: dict[Any, np.ndarray] = {}
    scored = np.isfinite(terms).all(axis=1)
    for key, idx in keys.groupby(keys).groups.items():
        idx = np.asarray(idx)
        ok = idx[scored[idx]]
        if ok.size == 0:
            continue
        w = self_paced_weights(terms[ok], thresholds, alpha, beta)
        weights[key] = w
        out[ok] = terms[ok] @ w
    return out, weights
