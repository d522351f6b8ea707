"""The policy's executor: the base DiT of `executor` (its `checkpoint`) with an executor adapter attached."""

from __future__ import annotations

from plotline.executor.config import ExecutorConfig
from plotline.executor.executor import Executor, build_executor
from plotline.video import VideoConfig


def open_executor(
    executor: ExecutorConfig, video: VideoConfig, adapter: str | None = None, *, merge: bool = False
) -> Executor:
    """Build the executor of `executor` for the `video` geometry and attach the frozen LoRA adapter at the local
    folder `adapter` (None: the base DiT). `merge=True` folds B·A into the DiT's own weights in place (the same
    outputs without the LoRA overhead per forward; evaluation does this)."""
    from plotline.executor.lora import load_adapter

    ex = build_executor(executor, video)
    if adapter:
        peft = load_adapter(ex.model, adapter, ex.backbone, trainable=False)
        if merge:
            peft.merge_and_unload()
    return ex
