"""The DiT block's element-wise glue (fp32 LayerNorm + AdaLN modulation, gated residual) as plain functions, and
the switch that runs them through torch.compile so each becomes one fused kernel instead of 4–6 eager passes.

Only tensor-in/tensor-out glue is compiled: the projections, attention (with its KV-cache bookkeeping) and the
FFN stay eager modules, so LoRA layers and the cache work unchanged. The eager functions are exactly the ops the
block always ran, so with the switch off outputs are bitwise unchanged; compiled, they agree to fp32 rounding.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)


def norm_modulate(
    x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor, num_frames: int, eps: float
) -> torch.Tensor:
    """AdaLN of Wan's blocks: LN(x)·(1 + scale) + shift per frame, LN affine-free in fp32 and cast back.

    x [B, F·T, D]; shift, scale [B, F, D] (one modulation vector per frame)."""
    b, n, d = x.shape
    y = F.layer_norm(x.float(), (d,), None, None, eps).type_as(x)
    yf = y.view(b, num_frames, n // num_frames, d)
    return (yf * (1 + scale.unsqueeze(2)) + shift.unsqueeze(2)).view(b, n, d)


def gated_residual(x: torch.Tensor, y: torch.Tensor, gate: torch.Tensor, num_frames: int) -> torch.Tensor:
    """x + y·gate per frame (x, y [B, F·T, D]; gate [B, F, D])."""
    b, n, d = y.shape
    return x + (y.view(b, num_frames, n // num_frames, d) * gate.unsqueeze(2)).view(b, n, d)


@dataclass(frozen=True)
class Glue:
    """The glue functions a block calls (eager, or their torch.compile'd versions)."""

    norm_modulate: Callable[..., torch.Tensor]
    gated_residual: Callable[..., torch.Tensor]
    compiled: bool = False


EAGER = Glue(norm_modulate, gated_residual)
"""The reference glue: plain PyTorch ops."""

_compiled: Glue | None = None


def compiled_glue() -> Glue:
    """The glue through torch.compile (inductor; built once per process, compiled lazily at the first call).
    Raises RuntimeError naming the cause when inductor cannot compile here (e.g. no C++ compiler on CPU)."""
    global _compiled
    if _compiled is None:
        try:
            nm = torch.compile(norm_modulate, dynamic=False)
            gr = torch.compile(gated_residual, dynamic=False)
            x = torch.zeros(1, 2, 4)
            nm(x, torch.zeros(1, 1, 4), torch.zeros(1, 1, 4), 1, 1e-6)  # compile now: fail here, not mid-rollout
            gr(x, x, torch.zeros(1, 1, 4), 1)
        except Exception as err:  # inductor raises many types (missing compiler, unsupported platform)
            raise RuntimeError(
                f"executor.compile: torch.compile of the DiT glue failed here "
                f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
            ) from err
        _compiled = Glue(nm, gr, compiled=True)
    return _compiled


def set_fused_glue(model: torch.nn.Module, enabled: bool) -> Glue:
    """Make every DiT block of `model` use the compiled glue (enabled) or the eager one; returns the glue set.
    When compiling fails the eager glue is kept and a warning names the cause."""
    glue = EAGER
    if enabled:
        try:
            glue = compiled_glue()
        except RuntimeError as err:
            log.warning("%s; falling back to the eager glue", err)
    for block in getattr(model, "blocks", []):
        block.glue = glue
    return glue


def fused_glue_enabled(switch: bool, device: torch.device | str) -> bool:
    """Whether executor.compile applies on `device`: only on CUDA (on CPU the eager glue is kept, since the
    compile time outweighs the gain at CPU sizes and the CPU presets stay bitwise unchanged)."""
    return bool(switch) and torch.device(device).type == "cuda"
