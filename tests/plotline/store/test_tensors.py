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
