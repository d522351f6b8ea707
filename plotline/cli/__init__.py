"""The `plotline` command: the roof over flows and stages. Every command lives in this package; nothing
outside it imports it."""

from plotline.cli.main import app, main

__all__ = ["app", "main"]
