"""Attention window vs upstream's KV-cache arithmetic (Self-Forcing / LongLive `CausalWanSelfAttention` with
kv_cache, local_attn_size, sink_size), the backbone registry's numbers, and the tiny backbone's unchanged frames."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from plotline.executor.backbones import get_backbone
from plotline.executor.config import ExecutorConfig
from plotline.executor.executor import build_executor
from plotline.executor.kv_cache import AttentionWindow
from plotline.video import VideoConfig

CHUNK = 3
CHUNK_ENDS = range(3, 49, 3)


def upstream_visible(local_attn_size: int, sink_size: int, chunk_end: int, sink_concat: bool) -> list[int]:
    """Frames a chunk ending at chunk_end attends to, replaying upstream's rolling buffer frame by frame.

    Self-Forcing: the buffer holds local_attn_size frames (unbounded under global attention); a chunk that extends
    past global_end and does not fit evicts the oldest frames after the sink (roll left), writes itself at the end,
    and attends to the last max_attention_size (= local_attn_size) frames of the buffer. LongLive (sink_concat)
    attends to buffer[:sink] + buffer[max(sink, end − (max_attention_size − sink)):end].
    """
    size = local_attn_size if local_attn_size != -1 else 10**6
    max_att = local_attn_size if local_attn_size != -1 else 10**6
    buf: list[int | None] = [None] * min(size, 200)
    local_end = global_end = 0
    keys = []
    for cs in range(0, chunk_end, CHUNK):
        ce, new = cs + CHUNK, CHUNK
        if local_attn_size != -1 and ce > global_end and new + local_end > size:
            evicted = new + local_end - size
            rolled = local_end - evicted - sink_size
            buf[sink_size : sink_size + rolled] = buf[sink_size + evicted : sink_size + evicted + rolled]
            local_end = local_end + ce - global_end - evicted
        else:
            local_end = local_end + ce - global_end
        buf[local_end - new : local_end] = list(range(cs, ce))
        if sink_concat and sink_size > 0:
            keys = buf[:sink_size] + buf[max(sink_size, local_end - (max_att - sink_size)) : local_end]
        else:
            keys = buf[max(0, local_end - max_att) : local_end]
        global_end = ce
    return sorted(keys)


def plotline_visible(window: AttentionWindow, chunk_end: int) -> list[int]:
    return [f for f in range(chunk_end) if window.visible(f, chunk_end - CHUNK, chunk_end)]


@pytest.mark.parametrize("size,sink", [(-1, 0), (12, 0), (9, 0), (12, 3), (21, 1), (15, 3)])
@pytest.mark.parametrize("sink_concat", [False, True])
def test_visible_frames_match_upstream_buffer(size, sink, sink_concat):
    window = AttentionWindow(local_attn_size=size, sink_size=sink)
    for end in CHUNK_ENDS:
        assert plotline_visible(window, end) == upstream_visible(size, sink, end, sink_concat), end
        if size != -1:
            assert len(plotline_visible(window, end)) == min(end, size)  # local_attn_size counts the sink


def test_kv_cache_holds_exactly_the_visible_frames():
    """The cache's eviction keeps what the next chunk sees (and nothing a later chunk could need)."""
    window = AttentionWindow(local_attn_size=12, sink_size=3)
    from plotline.executor.kv_cache import KVCache

    cache = KVCache(1, window)
    k = torch.zeros(1, CHUNK * 2, 1, 2)
    for cs in range(0, 45, CHUNK):
        cache.write(0, cs, k, k, CHUNK)
        nxt = cs + CHUNK
        assert cache.cached_frames == [f for f in plotline_visible(window, nxt + CHUNK) if f < nxt]


def test_registry_carries_upstream_numbers():
    assert get_backbone("self_forcing").window == AttentionWindow(local_attn_size=-1, sink_size=0)
    assert get_backbone("longlive").window == AttentionWindow(local_attn_size=12, sink_size=3)
    assert get_backbone("longlive").recache_mode == "one_pass"
    assert get_backbone("tiny").recache_mode == "chunked"


def old_visible(sink_frames: int, window_frames: int, key: int, cs: int, ce: int) -> bool:
    """The former AttentionWindow(sink_frames, window_frames) rule: sink plus the last window_frames frames."""
    if key >= ce:
        return False
    return key >= cs or window_frames < 0 or key < sink_frames or key >= ce - window_frames


def test_tiny_sees_the_frames_of_its_former_sink3_window9():
    window = get_backbone("tiny").window
    for end in CHUNK_ENDS:
        cs = end - CHUNK
        assert plotline_visible(window, end) == [f for f in range(end) if old_visible(3, 9, f, cs, end)]


def test_invalid_window_is_refused():
    with pytest.raises(ValueError, match="local_attn_size"):
        AttentionWindow(local_attn_size=3, sink_size=3)
    with pytest.raises(ValueError, match="sink_size"):
        AttentionWindow(local_attn_size=12, sink_size=-1)
    with pytest.raises(ValueError, match="executor.local_attn_size=2"):
        build_executor(
            ExecutorConfig(backbone="tiny", local_attn_size=2),
            VideoConfig(target_latent_frames=6, latent_frames_per_step=3, frames_per_chunk=3, switch_frames=[3]),
            device="cpu",
        )


@torch.no_grad()
def test_tiny_generation_equals_the_former_window():
    """A 24-frame generation (evictions, two switches with re-cache) equals the one made before the rename."""
    fixture = load_file(Path(__file__).parent / "fixtures" / "tiny_generation_sink3_window9.safetensors")
    video = VideoConfig(target_latent_frames=24, latent_frames_per_step=3, frames_per_chunk=3, switch_frames=[3, 6])
    ex = build_executor(ExecutorConfig(backbone="tiny", latent_height=4, latent_width=4), video, device="cpu")
    ctx = ex.encode(["a red square on the left", "the square moves right", "the square turns blue"])
    noise = ex.noise(5)
    out, traj = ex.generator.run(
        ex.generator.new_cache(), ctx, [0, 9, 18], 0, 24, lambda c: noise.batch(["fixture"], c), record_first=True
    )
    torch.testing.assert_close(out, fixture["video"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(traj.logprobs, fixture["first_logprobs"], atol=1e-5, rtol=1e-5)
