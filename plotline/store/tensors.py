"""safetensors files that carry run id and lineage in their metadata."""

from __future__ import annotations

import json

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

ALIGN = 8
"""safetensors pads its JSON header with spaces to a multiple of 8 bytes (the data that follows stays aligned)."""


def canonical_blob(data: bytes) -> bytes:
    """The same safetensors blob with a canonical header: `__metadata__` first with its keys sorted, then the
    tensor entries in data order. safetensors writes the metadata in hash-map order, which differs from one call to
    the next, so without this equal tensors and metadata give different file bytes (and sha256s)."""
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    meta = header.pop("__metadata__", None)
    ordered: dict = {"__metadata__": dict(sorted(meta.items()))} if meta is not None else {}
    ordered.update(sorted(header.items(), key=lambda kv: (kv[1]["data_offsets"], kv[0])))
    text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % ALIGN)
    return len(text).to_bytes(8, "little") + text + data[8 + n :]


def tensors_to_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """Serialise tensors (made contiguous, on CPU) with string metadata; equal inputs give equal bytes."""
    clean = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    return canonical_blob(st_save(clean, metadata={k: str(v) for k, v in (metadata or {}).items()}))


def tensors_from_bytes(data: bytes) -> dict[str, torch.Tensor]:
    """Deserialise a safetensors blob."""
    return st_load(data)


def metadata_from_bytes(data: bytes) -> dict[str, str]:
    """The string metadata of a safetensors blob (header only)."""
    header_len = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_len])
    return dict(header.get("__metadata__", {}) or {})


def restamp_file(path: str, metadata: dict[str, str]) -> None:
    """Rewrite a safetensors file on disk adding `metadata` (e.g. a peft adapter written by save_pretrained), with
    a canonical header (`canonical_blob`)."""
    with open(path, "rb") as fh:
        data = fh.read()  # read fully first: rewriting a memory-mapped file under live tensors crashes (SIGBUS)
    old = metadata_from_bytes(data)
    old.update({k: str(v) for k, v in metadata.items()})
    new = canonical_blob(st_save(st_load(data), metadata=old))
    with open(path, "wb") as out:
        out.write(new)


class NonFiniteTensor(ValueError):
    """A tensor about to be committed (or already committed) holds NaN or ±inf."""


def nonfinite_report(tensors: dict[str, torch.Tensor]) -> list[str]:
    """`name: k of n values non-finite` for every floating tensor holding NaN or ±inf (empty if all are finite)."""
    out = []
    for key, t in tensors.items():
        if t.is_floating_point() or t.is_complex():
            bad = int((~torch.isfinite(t)).sum())
            if bad:
                out.append(f"{key}: {bad} of {t.numel()} values non-finite")
    return out


def check_finite_blob(data: bytes, source: str) -> None:
    """Raise NonFiniteTensor naming `source` and the tensors if a safetensors blob holds NaN or ±inf."""
    bad = nonfinite_report(st_load(data))
    if bad:
        raise NonFiniteTensor(
            f"{source}: refusing non-finite tensors ({'; '.join(bad[:5])}"
            f"{f'; and {len(bad) - 5} more' if len(bad) > 5 else ''})"
        )
