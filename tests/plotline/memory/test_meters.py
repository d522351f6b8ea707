"""Live-bytes and saved-for-backward meters against hand-counted allocations."""

import torch

from plotline.memory.live import LiveBytesMeter
from plotline.memory.meta import on_meta
from plotline.memory.saved import SavedBytesMeter


def test_live_meter_counts_storages_once_while_alive():
    with LiveBytesMeter() as m:
        a = torch.ones(1000)  # 4000 B
        v = a.view(10, 100)  # a view: same storage, not counted again
        b = torch.ones(500, dtype=torch.float64)  # 4000 B
        assert m.current == 8000
        del a, b
        assert m.current == 4000  # the view keeps a's storage alive
        del v
        c = torch.ones(250)  # 1000 B
        del c
    assert m.peak == 8000 and m.current == 0


def test_live_meter_on_meta_with_fused_attention_never_materialises_scores():
    q = torch.empty(2, 4, 1000, 64, device="meta", dtype=torch.bfloat16)
    with on_meta(), LiveBytesMeter() as m:
        out = torch.nn.functional.scaled_dot_product_attention(q, q, q)
    # output (2·4·1000·64 bf16 = 1 024 000 B) + fp32 log-sum-exp (2·4·1000·4 = 32 000 B); the 2·4·1000·1000
    # score matrix (16 MB in fp32) of the unfused path is never allocated
    assert m.peak == 1_024_000 + 32_000
    assert out.shape == q.shape and out.device.type == "meta"


def test_saved_meter_counts_saved_activations_not_parameters():
    w = torch.nn.Parameter(torch.ones(100))
    x = torch.ones(100, requires_grad=True)
    with SavedBytesMeter(exclude=[w]) as m:
        y = (x * w).exp()  # mul saves x (400 B; w excluded); exp saves its output (400 B)
        assert m.current == 800
        y.sum().backward()  # the graph is freed by the backward
    assert m.peak == 800 and m.current == 0
