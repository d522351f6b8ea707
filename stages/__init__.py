"""Stages: one module per built-in stage (`plotline.stage_names`), each registering a StageSpec. Importing this
package registers them all and checks that the registry holds exactly the built-in names."""

import importlib

from plotline.stage_names import STAGE_NAMES

for _name in STAGE_NAMES:
    importlib.import_module(f"{__name__}.{_name}")

from stages.base import registry as _registry  # noqa: E402 - after the stage modules registered

_missing = [n for n in STAGE_NAMES if n not in _registry()]
if _missing:
    raise RuntimeError(f"stage modules {', '.join(_missing)} registered no stage of their own name")
