"""safetensors helpers: metadata stamping of files written by other libraries (e.g. peft adapters)."""

import torch
from safetensors.torch import load_file, save_file

from plotline.store.tensors import metadata_from_bytes, restamp_file


def test_restamp_adds_metadata_and_keeps_tensors(tmp_path):
    path = tmp_path / "adapter_model.safetensors"
    tensors = {"a.lora_A.weight": torch.randn(4, 8), "a.lora_B.weight": torch.zeros(8, 4)}
    save_file(tensors, str(path), metadata={"format": "pt"})
    restamp_file(str(path), {"plotline.run_id": "r1", "plotline.lineage": "plans=abc"})
    meta = metadata_from_bytes(path.read_bytes())
    assert meta == {"format": "pt", "plotline.run_id": "r1", "plotline.lineage": "plans=abc"}
    loaded = load_file(str(path))
    assert set(loaded) == set(tensors) and all(torch.equal(loaded[k], tensors[k]) for k in tensors)


def test_equal_tensors_and_metadata_give_equal_bytes(tmp_path):
    """safetensors orders the header's metadata by hash map (it changes from call to call); the canonical header
    sorts it, keeps the tensor bytes and loads back to the same tensors and metadata."""
    import hashlib
    import json

    from safetensors.torch import load, save

    from plotline.store.tensors import canonical_blob, tensors_to_bytes

    tensors = {"b": torch.arange(6.0).reshape(2, 3), "a": torch.ones(5, dtype=torch.float16), "c": torch.zeros(1)}
    meta = {f"plotline.k{i}": f"v{i}" for i in range(8)}
    raw = [save(tensors, metadata=meta) for _ in range(6)]
    blobs = [canonical_blob(b) for b in raw] + [tensors_to_bytes(tensors, meta) for _ in range(3)]
    assert len({hashlib.sha256(b).hexdigest() for b in blobs}) == 1
    blob = blobs[0]
    n = int.from_bytes(blob[:8], "little")
    assert n % 8 == 0 and list(json.loads(blob[8 : 8 + n])["__metadata__"]) == sorted(meta)
    assert blob[8 + n :] == raw[0][8 + int.from_bytes(raw[0][:8], "little") :]  # tensor data untouched
    assert metadata_from_bytes(blob) == meta
    loaded = load(blob)
    assert set(loaded) == set(tensors) and all(torch.equal(loaded[k], tensors[k]) for k in tensors)

    paths = [tmp_path / f"{i}.safetensors" for i in range(4)]
    for p in paths:
        save_file(tensors, str(p), metadata={"format": "pt"})
        restamp_file(str(p), meta)
    assert len({p.read_bytes() for p in paths}) == 1
