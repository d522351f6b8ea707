"""Fixtures of the orchestration tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def calls(tmp_path, monkeypatch) -> Path:
    """File the plugin stages append `stage@step` to (in this process and in children); no blocking."""
    path = tmp_path / "calls.txt"
    monkeypatch.setenv("PLOTLINE_TEST_CALLS", str(path))
    monkeypatch.delenv("PLOTLINE_TEST_BLOCK", raising=False)
    return path
