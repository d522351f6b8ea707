"""Importing the config module must stay light: no torch or pandas at import time (stage/CLI start-up cost)."""

import subprocess
import sys


def test_import_config_does_not_import_torch_or_pandas() -> None:
    code = "import sys, plotline.config; print('torch' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"], out.stdout + out.stderr


def test_store_names_resolve_lazily() -> None:
    import plotline.store as store
    from plotline.store.run import RunStore

    assert store.RunStore is RunStore
    assert set(store.__all__) >= {"Artifact", "ArtifactWriter", "RunStore", "StorageConfig"}
    try:
        store.NoSuchName  # noqa: B018
    except AttributeError as err:
        assert "NoSuchName" in str(err)
    else:
        raise AssertionError("unknown attribute must raise AttributeError")
