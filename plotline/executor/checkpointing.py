"""Activation checkpointing of one DiT block (torch.utils.checkpoint, non-reentrant) that stays correct when the
block reads and writes the KV cache."""

from __future__ import annotations

from torch import nn

from plotline.executor.kv_cache import KVCache


def call_block(block: nn.Module, *args, **kwargs):
    """block(*args, **kwargs): the plain call (activations saved for backward as usual)."""
    return block(*args, **kwargs)


def checkpointed_block(block: nn.Module, tokens, e6, ctx, angles, *, layer: int, cache: KVCache | None, **kwargs):
    """block(...) under torch.utils.checkpoint (non-reentrant): its activations are recomputed in the backward.

    The block may write its layer's K/V and text K/V into the cache; the recomputation must see the cache as it
    was before the first call, so both runs work on clones of that snapshot and the first run's writes to this
    layer are copied back into `cache`.
    """
    from torch.utils.checkpoint import checkpoint

    snapshot = cache.clone() if cache is not None else None
    first: list[KVCache | None] = []

    def run(tokens, e6, ctx, angles):
        c = snapshot.clone() if snapshot is not None else None
        if not first:
            first.append(c)
        return block(tokens, e6, ctx, angles, layer=layer, cache=c, **kwargs)

    out = checkpoint(run, tokens, e6, ctx, angles, use_reentrant=False)
    if cache is not None:
        cache.frames[layer], cache.cross[layer] = first[0].frames[layer], first[0].cross[layer]
    return out
