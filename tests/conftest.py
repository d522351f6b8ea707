"""Shared fixtures: a real S3 endpoint on loopback (moto's ThreadedMotoServer) and store roots for both backends."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid

from benchmarks.shapes_learning import KERNEL_PINS

# Pin torch's CPU kernels before anything imports torch, so numerics (and the learning test's RL trajectory) are
# the same on every x86-64 CPU with AVX2, AVX-512 and AMX machines included (see benchmarks/shapes_learning.py).
for _key, _value in KERNEL_PINS.items():
    os.environ[_key] = _value

import pytest  # noqa: E402

from plotline.net import free_port  # noqa: E402 - re-exported for tests


def pytest_configure(config):
    """One torch thread per test process: on 2 shared cores, 2 threads made tiny models ~10x slower (measured)."""
    import torch

    torch.set_num_threads(1)


os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# CLI output must not depend on the terminal the suite is started from: off a terminal the consoles print full
# width unless COLUMNS says otherwise (tests that check COLUMNS set it themselves).
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)
# Each test process gets a Prefect home of its own, before anything imports prefect: commands that start their
# embedded API (plotline train, eval ablation, ...) keep its database and concurrency leases there, so two xdist
# workers never share the `plotline-gpu` slot, and a killed test never leaves a lease in the developer's ~/.prefect.
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="plotline-test-prefect-")
atexit.register(shutil.rmtree, os.environ["PREFECT_HOME"], ignore_errors=True)  # removed when this process exits

FIRST_FILES = ("tests/stages/test_shapes_loop.py",)
"""Files started before all others: the learning test takes ~5 min, a third of the suite, so under `make test`'s
two xdist workers it runs on one while the other worker takes every other file."""


def pytest_collection_modifyitems(session, config, items):
    """Order the run: FIRST_FILES, then the files holding `slow` tests, then the rest, each file's tests kept in
    their own order. Under `--dist loadfile` the workers take files in this order, so the longest start first."""
    slow_files = {item.nodeid.split("::")[0] for item in items if item.get_closest_marker("slow")}

    def rank(item) -> int:
        path = item.nodeid.split("::")[0]
        return 0 if path in FIRST_FILES else 1 if path in slow_files else 2

    items[:] = sorted(items, key=rank)  # stable: collection order within each rank


@pytest.fixture(autouse=True)
def _one_ranks_test_at_a_time(request, tmp_path_factory):
    """Tests marked `ranks` start torch.distributed CPU ranks (gloo); under xdist two of them at once on two cores
    oversubscribe the machine and once aborted a rank natively. A file lock shared by all workers of the session
    runs them one at a time; other tests are unaffected."""
    if request.node.get_closest_marker("ranks") is None:
        yield
        return
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the session's root, above each worker's own folder
    with FileLock(str(shared / "ranks.lock")):
        yield


@pytest.fixture(scope="session")
def s3_endpoint():
    """URL of a moto S3 server running on loopback for the whole session, with test credentials in the env."""
    from moto.server import ThreadedMotoServer

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ[key] = value
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint):
    """A fresh bucket on the loopback S3 server; returns its name."""
    import boto3

    name = f"plotline-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name


@pytest.fixture(params=["local", "s3"])
def store_root(request, tmp_path):
    """(root URL, StorageConfig) for a local folder and for a bucket on the loopback S3 server."""
    from plotline.store import StorageConfig

    if request.param == "local":
        return str(tmp_path / "runs"), StorageConfig(root=str(tmp_path / "runs"))
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = request.getfixturevalue("s3_bucket")
    cfg = StorageConfig.model_validate(
        {"root": f"s3://{bucket}/runs", "s3": {"endpoint_url": endpoint, "max_attempts": 2}}
    )
    return f"s3://{bucket}/runs", cfg


@pytest.fixture(scope="session")
def prefect_harness():
    """One Prefect test API for the whole session (its start costs ~17 s)."""
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
