"""Bytes of tensors saved for backward that are alive at once (torch.autograd.graph.saved_tensors_hooks)."""

from __future__ import annotations

from collections.abc import Iterable

import torch


def storage_key(t: torch.Tensor) -> int:
    """Identity of a tensor's storage (views share it; also defined on the meta device, where data_ptr is 0)."""
    return t.untyped_storage()._cdata


class StorageTally:
    """Reference-counted bytes of live storages: `add(key, nbytes)` one more reference (the bytes count once per
    storage), `release(key)` one fewer; `current` is the live total, `peak` its maximum."""

    def __init__(self):
        self.live: dict[int, list[int]] = {}  # storage key → [references, bytes]
        self.current = 0
        self.peak = 0

    def add(self, key: int, nbytes: int) -> None:
        """One more live reference to storage `key` (of `nbytes` bytes)."""
        entry = self.live.get(key)
        if entry is None:
            self.live[key] = [1, nbytes]
            self.current += nbytes
            self.peak = max(self.peak, self.current)
        else:
            entry[0] += 1

    def release(self, key: int) -> None:
        """One reference to storage `key` is gone; its bytes leave the total with the last one."""
        entry = self.live.get(key)
        if entry is None:
            return
        entry[0] -= 1
        if entry[0] == 0:
            self.current -= entry[1]
            del self.live[key]


class TalliedMeter:
    """Mixin of the memory meters: `current` and `peak` read from the meter's `tally` (a StorageTally)."""

    tally: StorageTally

    @property
    def current(self) -> int:
        """Bytes of counted storages alive now."""
        return self.tally.current

    @property
    def peak(self) -> int:
        """Largest `current` since entering."""
        return self.tally.peak


class _Packed:
    __slots__ = ("tensor", "key", "meter")

    def __init__(self, tensor: torch.Tensor, key: int | None, meter: SavedBytesMeter):
        self.tensor, self.key, self.meter = tensor, key, meter

    def __del__(self):
        if self.key is not None:
            self.meter.tally.release(self.key)


class SavedBytesMeter(TalliedMeter):
    """Context manager counting the bytes of the storages autograd saves for backward while they are alive.

    A storage saved several times (or through several views) counts once, as long as any saved reference to it
    lives; storages of `exclude` tensors (e.g. the model's parameters, resident anyway) are not counted.
    `current` is the live total, `peak` its maximum since entering.
    """

    def __init__(self, exclude: Iterable[torch.Tensor] = ()):
        self.exclude = {storage_key(t) for t in exclude}
        self.tally = StorageTally()
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)

    def _pack(self, t: torch.Tensor) -> _Packed:
        key = storage_key(t)
        if key in self.exclude:
            return _Packed(t, None, self)
        self.tally.add(key, t.untyped_storage().nbytes())
        return _Packed(t, key, self)

    @staticmethod
    def _unpack(p: _Packed) -> torch.Tensor:
        return p.tensor

    def __enter__(self) -> SavedBytesMeter:
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._hooks.__exit__(*exc)
