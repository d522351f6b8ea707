"""Peak bytes of tensors allocated inside a region and alive at once, from every op's outputs (a
TorchDispatchMode), so it works on the meta device where no allocator runs."""

from __future__ import annotations

import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from plotline.memory.saved import StorageTally, TalliedMeter, storage_key


class LiveBytesMeter(TalliedMeter, TorchDispatchMode):
    """Counts the storages created by ops run inside the context while any tensor on them is alive.

    A storage counts once however many views of it exist; tensors made before entering (weights, inputs) are not
    counted. `current` is the live total, `peak` its maximum since entering (autograd's backward, which runs in
    the calling thread for CPU and meta tensors, is included when it runs inside the context).
    """

    def __init__(self):
        super().__init__()
        self.tally = StorageTally()

    def _track(self, t: torch.Tensor) -> None:
        key = storage_key(t)
        self.tally.add(key, t.untyped_storage().nbytes())
        weakref.finalize(t, self.tally.release, key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        inputs = {storage_key(t) for t in tree_flatten((args, kwargs or {}))[0] if isinstance(t, torch.Tensor)}
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.untyped_storage().nbytes():
                key = storage_key(t)
                if key in self.tally.live or key not in inputs:  # a new storage, or one more view of a counted one
                    self._track(t)
        return out
