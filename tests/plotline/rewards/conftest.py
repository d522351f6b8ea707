"""Fixtures of the rewards tests: a tiny local Qwen3 and a real `transformers serve` for it on loopback."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory):
    """A saved tiny Qwen3 + trained BPE tokenizer with chat template (plotline.testing.tiny_lm)."""
    from plotline.testing.tiny_lm import build_tiny_qwen3

    return str(build_tiny_qwen3(tmp_path_factory.mktemp("tiny_qwen") / "model"))


@pytest.fixture(scope="session")
def tiny_server(tiny_qwen_dir, tmp_path_factory):
    """Base URL (`…/v1`) of `transformers serve` running the tiny Qwen3 on 127.0.0.1 for the session."""
    from plotline.rewards.serve import transformers_serve

    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with transformers_serve(tiny_qwen_dir, log_path=log) as url:
        yield url
