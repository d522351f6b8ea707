"""Where a model server loads the planner adapter from: a copy on a volume the server shares with the plan
stage, so the path sent to the server is one it can read (never this container's private download cache)."""

from __future__ import annotations

import os
import posixpath
import shutil
from pathlib import Path

from plotline.planner.config import PlannerOpenAIConfig
from plotline.planner.errors import PlannerError

ADAPTER_FILE = "adapter_config.json"


def publish_adapter(adapter_dir: str | Path, shared_dir: str | Path, name: str) -> Path:
    """Copy the adapter folder to `shared_dir/name` (once per name: a version's files never change), written
    under a temporary name and renamed, so a server never sees a half-copied adapter. Returns the copy's path."""
    shared = Path(shared_dir)
    dest = shared / name
    if (dest / ADAPTER_FILE).is_file():
        return dest
    tmp = shared / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(adapter_dir, tmp)
    try:
        os.replace(tmp, dest)
    except OSError:  # another process published the same version first
        shutil.rmtree(tmp, ignore_errors=True)
        if not (dest / ADAPTER_FILE).is_file():
            raise
    return dest


def server_adapter_path(settings: PlannerOpenAIConfig, adapter_dir: str | Path, name: str, private: bool) -> str:
    """The adapter path to send to the server's load_lora_adapter, checked before any request:

    `adapter_path_on_server` when set (sent as is); else, with `shared_adapter_dir`, the published copy's path
    as the server mounts it; else the local path, unless it is `private` (a remote store's download cache),
    which is a PlannerError naming the key to set. A missing adapter or shared folder is a PlannerError too.
    """
    if settings.adapter_path_on_server:
        return settings.adapter_path_on_server
    if not (Path(adapter_dir) / ADAPTER_FILE).is_file():
        raise PlannerError(f"planner adapter folder {str(adapter_dir)!r} has no {ADAPTER_FILE}")
    if settings.shared_adapter_dir:
        shared = Path(settings.shared_adapter_dir)
        if not shared.is_dir():
            raise PlannerError(
                f"planner.openai.shared_adapter_dir {str(shared)!r} is not a directory here; mount "
                "the volume the model server shares (or create the folder) before the plan stage"
            )
        if not os.access(shared, os.W_OK):
            raise PlannerError(f"planner.openai.shared_adapter_dir {str(shared)!r} is not writable")
        publish_adapter(adapter_dir, shared, name)
        root = settings.shared_adapter_dir_on_server or str(shared)
        return posixpath.join(root, name)
    if private:
        raise PlannerError(
            f"the planner adapter {name!r} is only in this process's download cache ({adapter_dir}), which the "
            f"model server at {settings.base_url} cannot read: set planner.openai.shared_adapter_dir to a folder "
            "on a volume the server mounts (and planner.openai.shared_adapter_dir_on_server to its path there)"
        )
    return str(adapter_dir)
