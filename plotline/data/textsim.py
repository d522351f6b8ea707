"""Text normalisation and duplicate detection for instruction lists.

- `normalise` maps a prompt to a canonical form (lower case, punctuation dropped, whitespace collapsed):
  equal forms are exact duplicates.
- `shingles` are the hashed word n-grams of the canonical form; the Jaccard similarity of two shingle sets
  measures near-duplication.
- `DuplicateIndex` answers "which accepted prompt is this a duplicate of?" in roughly constant time per
  query: MinHash signatures bucketed by LSH bands propose candidates, and the exact Jaccard decides.
Every hash is derived from blake2b, so results do not depend on Python's per-process hash seed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_PRIME = np.uint64((1 << 31) - 1)

STOPWORDS = frozenset(
    """
a an the and or but of to in on at by for with from into onto over under up down out off as is are was were be
been being it its it's this that these those there their them they he she his her him we you i my your our
then after before next finally first once until while when so very slowly quickly gently carefully just still
again also back away its itself themselves himself herself who which what where how some any all each every one
two three four five few more most other another such no not only own same than too can will would could should
""".split()
)
"""Words ignored when matching steps to a prompt (articles, pronouns, sequence words, common adverbs)."""


def normalise(text: str) -> str:
    """Canonical form: lower case, words and digits only, single spaces."""
    return " ".join(_WORD.findall((text or "").lower()))


def words(text: str) -> list[str]:
    """Lower-case word tokens of `text`."""
    return _WORD.findall((text or "").lower())


def stem(word: str) -> str:
    """A crude suffix stripper so that pours/poured/pouring match (enough for step-to-prompt alignment)."""
    w = word.lower().split("'")[0]
    for suffix in ("ingly", "edly", "ing", "ies", "ied", "es", "ed", "ly", "s"):
        if len(w) > len(suffix) + 2 and w.endswith(suffix):
            w = w[: -len(suffix)]
            break
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "aeiou":  # stopp(ing) -> stop
        w = w[:-1]
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]
    return w


def content_stems(text: str) -> list[str]:
    """Stems of the non-stopword tokens of `text`, in order."""
    return [stem(w) for w in words(text) if w not in STOPWORDS and len(w) > 1]


def _hash64(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little")


def shingles(text: str, n: int = 3) -> frozenset[int]:
    """Hashed word n-grams (32-bit) of the canonical form; a text shorter than n words is one shingle."""
    toks = normalise(text).split()
    if not toks:
        return frozenset()
    grams = [" ".join(toks[i : i + n]) for i in range(max(1, len(toks) - n + 1))]
    return frozenset(_hash64(g) & 0xFFFFFFFF for g in grams)


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    """|a ∩ b| / |a ∪ b| (0 for two empty sets)."""
    if not a and not b:
        return 0.0
    return len(a & b) / len(a | b)


@dataclass(frozen=True)
class Match:
    """An accepted entry a query duplicates: its key, the kind (`exact` or `near`) and the similarity."""

    key: str
    kind: str
    similarity: float


class DuplicateIndex:
    """Exact and near-duplicate lookup over a growing set of texts (MinHash + LSH, verified by Jaccard).

    `bands` × `rows` must equal `num_perm`; with 32 bands of 2 rows, pairs from Jaccard ≈ 0.3 upwards are
    proposed with high probability, so thresholds of 0.4 and above lose (almost) nothing."""

    def __init__(
        self, threshold: float = 0.6, shingle_words: int = 3, num_perm: int = 64, bands: int = 32, seed: int = 0
    ):
        if num_perm % bands:
            raise ValueError(f"num_perm={num_perm} is not a multiple of bands={bands}")
        self.threshold, self.n, self.bands, self.rows = threshold, shingle_words, bands, num_perm // bands
        rng = np.random.default_rng(seed)
        self._a = rng.integers(1, (1 << 31) - 1, num_perm, dtype=np.uint64)
        self._b = rng.integers(0, (1 << 31) - 1, num_perm, dtype=np.uint64)
        self._exact: dict[str, str] = {}
        self._shingles: dict[str, frozenset[int]] = {}
        self._buckets: list[dict[bytes, list[str]]] = [dict() for _ in range(bands)]

    def __len__(self) -> int:
        return len(self._shingles)

    def signature(self, sh: frozenset[int]) -> np.ndarray:
        """MinHash signature [num_perm] of a shingle set."""
        if not sh:
            return np.full(len(self._a), np.iinfo(np.uint64).max, dtype=np.uint64)
        x = np.fromiter(sh, dtype=np.uint64, count=len(sh)) % _PRIME
        # (a·x + b) mod p with a, b, x < p = 2^31 − 1: a·x + b < 2^63, no uint64 overflow
        return ((np.outer(self._a, x) + self._b[:, None]) % _PRIME).min(axis=1)

    def _band_keys(self, sig: np.ndarray) -> list[bytes]:
        return [sig[i * self.rows : (i + 1) * self.rows].tobytes() for i in range(self.bands)]

    def find(self, text: str) -> Match | None:
        """The accepted entry that `text` duplicates (exact first, else the most similar near-duplicate)."""
        norm = normalise(text)
        if norm in self._exact:
            return Match(self._exact[norm], "exact", 1.0)
        sh = shingles(text, self.n)
        best: Match | None = None
        seen: set[str] = set()
        for band, key in enumerate(self._band_keys(self.signature(sh))):
            for other in self._buckets[band].get(key, ()):
                if other in seen:
                    continue
                seen.add(other)
                sim = jaccard(sh, self._shingles[other])
                if sim >= self.threshold and (best is None or sim > best.similarity):
                    best = Match(other, "near", sim)
        return best

    def add(self, key: str, text: str) -> None:
        """Index `text` under `key`."""
        sh = shingles(text, self.n)
        self._exact.setdefault(normalise(text), key)
        self._shingles[key] = sh
        for band, bkey in enumerate(self._band_keys(self.signature(sh))):
            self._buckets[band].setdefault(bkey, []).append(key)
