"""Fixtures of the rewards tests: a tiny local Qwen3 and a tiny Qwen3-VL, each with a real `transformers serve`
on loopback."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory):
    """A saved tiny Qwen3 + trained BPE tokenizer with chat template (plotline.tiny.lm)."""
    from plotline.tiny.lm import build_tiny_qwen3

    return str(build_tiny_qwen3(tmp_path_factory.mktemp("tiny_qwen") / "model"))


@pytest.fixture(scope="session")
def tiny_server(tiny_qwen_dir, tmp_path_factory):
    """Base URL (`…/v1`) of `transformers serve` running the tiny Qwen3 on 127.0.0.1 for the session."""
    from plotline.rewards.serve import transformers_serve

    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with transformers_serve(tiny_qwen_dir, log_path=log) as url:
        yield url


@pytest.fixture(scope="session")
def tiny_vl_dir(tmp_path_factory):
    """A saved tiny Qwen3-VL + image-only processor (plotline.tiny.vl)."""
    from plotline.tiny.vl import build_tiny_qwen3_vl

    return str(build_tiny_qwen3_vl(tmp_path_factory.mktemp("tiny_vl") / "model"))


@pytest.fixture(scope="session")
def tiny_vl_server(tiny_vl_dir, tmp_path_factory):
    """Base URL (`…/v1`) of `transformers serve --trust-remote-code` running the tiny Qwen3-VL on 127.0.0.1
    (the processor's code is cached in a temporary modules dir, not in the user's Hugging Face cache)."""
    from plotline.rewards.serve import transformers_serve

    tmp = tmp_path_factory.mktemp("serve_vl")
    with transformers_serve(
        tiny_vl_dir, trust_remote_code=True, log_path=tmp / "serve.log", env={"HF_MODULES_CACHE": str(tmp / "modules")}
    ) as url:
        yield url
