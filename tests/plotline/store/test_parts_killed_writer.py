"""A streamed output whose writer process is killed with SIGKILL (no abort, no cleanup): the reader that follows
its parts fails as soon as the writer's lease expires, naming the part it was waiting for, long before its own
timeout, on a local store and on the loopback S3 server. Parts seen before the kill were read in full."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from plotline.store import RunStore
from plotline.store.parts import PartMissing, PartStream
from tests.flows.helpers import wait_for

WRITER = textwrap.dedent(
    """
    import json, pathlib, sys, time
    import pyarrow as pa
    from plotline.store import RunStore, StorageConfig
    from plotline.store.parts import PartWriter

    run, storage, ready = sys.argv[1], StorageConfig.model_validate(json.loads(sys.argv[2])), sys.argv[3]
    writer = RunStore(run, storage).open_writer("rollout", 0, 0, "attempt-killed", {})
    parts = PartWriter(writer, {"config_key": "k"})
    parts.commit("plan-a", [], pa.table({"plan_id": ["plan-a"], "value": [1.5]}))
    pathlib.Path(ready).write_text("part 0 published")
    time.sleep(600)  # killed here, holding a renewed lease
    """
)


def test_a_killed_writer_fails_the_stream_at_its_lease_expiry_naming_the_next_part(store_root, tmp_path):
    root, cfg = store_root
    storage = cfg.model_copy(update={"lease_s": 1.0})
    run = f"{root}/killed"
    ready = tmp_path / "ready"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, run, json.dumps(storage.model_dump(mode="json")), str(ready)], env=env
    )
    try:
        wait_for(lambda: ready.exists() or writer.poll() is not None, 120, "the writer to publish part 0")
        assert writer.poll() is None, "the writer exited before it was killed"
        stream = PartStream(
            RunStore(run, storage),
            "rollout",
            0,
            matches=lambda header: header.get("config_key") == "k",
            accepts=lambda manifest: False,
            table="rollouts.parquet",
            key_column="plan_id",
            timeout_s=600,  # far beyond the lease: only the lease can end the wait below
            poll_s=0.05,
        )
        parts = stream.follow(["plan-a", "plan-b"])
        first = next(parts)
        assert (first.index, first.key, first.rows) == (0, "plan-a", [{"plan_id": "plan-a", "value": 1.5}])
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=30)
        with pytest.raises(PartMissing) as failure:
            next(parts)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait(timeout=30)
    message = str(failure.value)
    assert message.startswith("part 1 ('plan-b') of rollout step 0 (") and "attempt-killed" in message
    assert "never appeared: its writer's lease expired" in message and "(the writer was killed)" in message
    assert stream.events == [("part", 0)]
