"""The backbone registry is populated in one place: built-in entries in plotline.executor.backbones, and the
provided `shapes` backbone registered by the registry itself on first lookup (importing its module registers
nothing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

SCRIPT = """
import plotline.world.backbone
from plotline.executor.backbones import BACKBONES, backbone_names, get_backbone
from plotline.executor.executor import DECODERS, TEXT_ENCODERS
assert "shapes" not in BACKBONES and "world_state" not in DECODERS, "import registered the backbone"
assert "shapes" in backbone_names()
bb = get_backbone("shapes")
assert BACKBONES["shapes"] is bb and bb.vae in DECODERS and bb.text_encoder in TEXT_ENCODERS
print("ok", bb.arch.num_layers)
"""


def test_importing_the_world_backbone_registers_nothing_and_lookup_registers_it():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ok", "2"]


def test_an_unknown_backbone_names_the_known_ones_including_provided():
    from plotline.executor.backbones import get_backbone

    with pytest.raises(KeyError, match=r"unknown executor backbone 'nope'; known: .*longlive.*shapes.*tiny"):
        get_backbone("nope")
