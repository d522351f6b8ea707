"""Decoding a fork's prefix once: the causal Wan VAE decoded in pieces (prefix, then each continuation from the
prefix's forked decoder state) gives the full decode of every video, seam included; the streamed decode of a
whole video is bitwise the diffusers decode; decoders without a causal state decode the whole videos."""

import torch
from torch import nn

from plotline.executor.vae import IdentityDecoder, decode_rollout, tiny_wan_vae

C, H, W = 4, 8, 8


def _latents(b, f, seed):
    return torch.randn(b, C, f, H, W, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def test_streamed_decode_of_a_whole_video_is_bitwise_the_diffusers_decode():
    dec = tiny_wan_vae(C, seed=1)
    z = _latents(2, 5, 0)
    frames, state = dec.decode_stream(z)
    assert torch.equal(frames, dec(z))
    assert state.frames == 5


@torch.no_grad()
def test_fork_decode_equals_the_full_decode_of_each_video_across_the_seam():
    dec = tiny_wan_vae(C, seed=1)
    k, K, n = 3, 7, 3
    prefix, cont = _latents(1, k, 1), _latents(n, K - k, 2)
    full = dec(torch.cat([prefix.expand(n, -1, -1, -1, -1), cont], 2))
    forked = decode_rollout(dec, prefix, cont)
    assert forked.shape == full.shape
    head = dec.decode_stream(prefix)[0].shape[1]  # pixel frames of the prefix: 1 + 2(k − 1) for this VAE
    assert head == 1 + 2 * (k - 1) and full.shape[1] == 1 + 2 * (K - 1)
    torch.testing.assert_close(forked, full, rtol=1e-5, atol=1e-5)
    seam = slice(head - 1, head + 2)  # last prefix frame and the first frames decoded from the forked state
    torch.testing.assert_close(forked[:, seam], full[:, seam], rtol=1e-5, atol=1e-5)
    # the continuations really differ after the seam (the check is not vacuous)
    assert (full[0, head:] - full[1, head:]).abs().max() > 1e-3


@torch.no_grad()
def test_identity_decoder_fork_is_bitwise_and_stateless_decoders_decode_whole_videos():
    prefix, cont = _latents(1, 3, 3), _latents(2, 3, 4)
    videos = torch.cat([prefix.expand(2, -1, -1, -1, -1), cont], 2)
    ident = IdentityDecoder(2)
    assert torch.equal(decode_rollout(ident, prefix, cont), ident(videos))

    class Plain(nn.Module):  # no causal state: the reference path, the same call as before
        def forward(self, z):
            return z.permute(0, 2, 3, 4, 1)[..., :3] * 2

    assert torch.equal(decode_rollout(Plain(), prefix, cont), Plain()(videos))


@torch.no_grad()
def test_a_tiled_vae_falls_back_to_whole_videos():
    dec = tiny_wan_vae(C, seed=1)
    dec.vae.use_tiling = True
    assert not dec.supports_fork()
    prefix, cont = _latents(1, 2, 5), _latents(2, 2, 6)
    assert torch.equal(decode_rollout(dec, prefix, cont), dec(torch.cat([prefix.expand(2, -1, -1, -1, -1), cont], 2)))


@torch.no_grad()
def test_fork_decode_flops_are_the_prefix_once_plus_the_new_frames():
    """Independent count: the causal decode costs c_i for latent frame i (c_0 the first frame, c_1 any later one
    at these sizes), so N full videos cost N·Σ_{i<K} c_i and the fork Σ_{i<k} c_i + N·Σ_{k≤i<K} c_i."""
    from plotline.executor.flops import count_forward

    dec = tiny_wan_vae(C, seed=1)
    flops = lambda fn: count_forward(fn, breakdown=False)[0].total
    c0 = flops(lambda: dec(_latents(1, 1, 0)))
    c1 = flops(lambda: dec(_latents(1, 2, 0))) - c0
    assert flops(lambda: dec(_latents(1, 4, 0))) == c0 + 3 * c1  # every later frame costs the same
    k, K, n = 3, 7, 4
    fork = flops(lambda: decode_rollout(dec, _latents(1, k, 1), _latents(n, K - k, 2)))
    full = flops(lambda: dec(_latents(n, K, 3)))
    assert full == n * (c0 + (K - 1) * c1)
    assert fork == c0 + (k - 1) * c1 + n * (K - k) * c1
