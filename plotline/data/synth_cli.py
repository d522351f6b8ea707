"""The `plotline synth` sub-app (defined in plotline.data.cli, which may import the stages as a CLI module)."""
from plotline.data.cli import app

__all__ = ["app"]
