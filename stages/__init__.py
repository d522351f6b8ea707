"""Stages: one module per stage, each registering a StageSpec. Importing this package registers them all."""
import importlib
import pkgutil

for _info in pkgutil.iter_modules(__path__):
    if _info.name not in ("base",) and not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")
