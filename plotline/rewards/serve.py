"""Start `transformers serve` on loopback for a local model directory (integration tests, benchmarks)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from plotline.net import free_port


@contextlib.contextmanager
def transformers_serve(
    model_dir: str | Path,
    *,
    port: int | None = None,
    threads: int = 1,
    continuous_batching: bool = False,
    trust_remote_code: bool = False,
    startup_timeout_s: float = 90.0,
    log_path: str | Path | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[str]:
    """Run `transformers serve <model_dir>` on 127.0.0.1 (CPU, `threads` torch threads, offline, optionally with
    continuous batching or `--trust-remote-code`, extra environment `env`) and yield its `/v1` base URL once
    `/health` answers; the process is ended on exit."""
    port = port or free_port()
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        **(env or {}),
    }
    exe = Path(sys.executable).with_name("transformers")
    cmd = (
        [
            str(exe),
            "serve",
            str(model_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--device",
            "cpu",
            "--log-level",
            "warning",
        ]
        + (["--continuous-batching"] if continuous_batching else [])
        + (["--trust-remote-code"] if trust_remote_code else [])
    )
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + startup_timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"transformers serve exited with code {proc.returncode} before becoming healthy")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0, trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"transformers serve not healthy after {startup_timeout_s:g}s")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if not isinstance(log, int):  # an opened log file, not subprocess.DEVNULL
            log.close()
