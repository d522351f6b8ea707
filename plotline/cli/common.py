"""What every command shares: the error exit and the default preset."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer

from plotline.console import err

DEFAULT_PRESET = Path("configs/shapes.yaml")


def fail(message: str, code: int = 2) -> NoReturn:
    """Print `error: message` on stderr and exit with `code` (2: bad input, 1: a check failed)."""
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def preset_paths(paths: list[str] | None) -> list[str]:
    """The presets to merge: those given, else configs/shapes.yaml when it exists here, else none."""
    if paths:
        return list(paths)
    return [str(DEFAULT_PRESET)] if DEFAULT_PRESET.is_file() else []


def quiet_library_bars() -> None:
    """No tqdm bars from transformers / huggingface_hub ("Loading weights", "Writing model shards"): the CLI's
    own progress display (plotline/cli/progress_view.py) is the one bar, and on a pipe they are noise."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass
    try:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    except ImportError:
        pass
