"""Stuck GPU slots against plotline's embedded API (no Prefect repossessor runs there): a Prefect lease that
expired with no lease record is released by the next waiter, slots with no live lease at all are freed after the
grace, and a live Prefect lease without a record is waited for, never robbed."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flows.embedded import _api_url, api_command, api_env
from flows.server import healthy, spawn_server, stop_group
from flows.slots import LEASE_DIR_ENV, OrphanWatch, leased_slot, read_leases
from plotline.net import free_port
from tests.flows.helpers import wait_for


@pytest.fixture(scope="module")
def embedded_url():
    """plotline's embedded API (filesystem lease storage under this test process's PREFECT_HOME)."""
    env = api_env()
    env.pop("PREFECT_API_DATABASE_CONNECTION_URL", None)  # its own database under PREFECT_HOME, not a harness's
    port = free_port()
    proc, tail = spawn_server(api_command(port), env, None, "prefect-api-output")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: healthy(url, 1.0) or proc.poll() is not None, 120, "the embedded API to answer")
        assert proc.poll() is None, "\n".join(tail)
        yield f"{url}/api"
    finally:
        stop_group(proc, grace_s=10.0)


@pytest.fixture
def limit(embedded_url):
    """A fresh one-slot GPU limit on the embedded API, with the process pointed at that API for the test."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    name = f"reclaim-gpu-{uuid.uuid4().hex[:8]}"
    with _api_url(embedded_url):
        with get_client(sync_client=True) as client:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1, active=True))
        yield name


def _gcl(limit: str):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_global_concurrency_limit_by_name(limit)


def _take_with_prefect_lease(limit: str) -> str:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return str(client.increment_concurrency_slots_with_lease([limit], 1, "concurrency", 60).json()["lease_id"])


def _wait_in_thread(limit: str, stage: str, lines: list[str], **timing) -> tuple[threading.Thread, dict]:
    """Run `leased_slot` in a thread (with this thread's Prefect settings); the dict gets `active` (slots taken
    while it held one) and `waited_s` once it has the slot, so a waiter that never gets it fails a bounded wait."""
    import contextvars

    got: dict = {}
    context = contextvars.copy_context()

    def hold() -> None:
        started = time.monotonic()
        with leased_slot(limit, stage, lease_s=5, poll_s=0.1, log=lines.append, **timing):
            got["waited_s"] = time.monotonic() - started
            got["active"] = _gcl(limit).active_slots

    thread = threading.Thread(target=lambda: context.run(hold), daemon=True)
    thread.start()
    return thread, got


def test_the_embedded_api_names_its_lease_storage(limit):
    lease_dir = Path(os.environ[LEASE_DIR_ENV])
    lease_id = _take_with_prefect_lease(limit)
    leases = read_leases(lease_dir, str(_gcl(limit).id))
    assert [lease.lease_id for lease in leases] == [lease_id] and leases[0].slots == 1
    assert 0 < leases[0].expires_at - time.time() <= 60


def test_an_expired_prefect_lease_without_a_record_is_released(limit):
    lease_id = _take_with_prefect_lease(limit)  # the holder died before publishing its lease record
    lease_file = Path(os.environ[LEASE_DIR_ENV]) / f"{lease_id}.json"
    data = json.loads(lease_file.read_text())
    data["expiration"] = (datetime.now(UTC) - timedelta(seconds=30)).isoformat()  # 30 s past expiry
    lease_file.write_text(json.dumps(data))
    lines: list[str] = []
    thread, got = _wait_in_thread(limit, "rollout", lines, report_s=60, orphan_grace_s=600)
    wait_for(lambda: "active" in got, 60, "the waiter to take the slot of the expired lease")
    thread.join(timeout=30)
    assert got["active"] == 1  # the dead lease's slot went back; the waiter held it
    assert any(
        line.startswith(f"released the slot of GPU limit '{limit}' held by Prefect lease {lease_id}, expired 30 s ago")
        for line in lines
    ), lines
    assert not lease_file.exists()  # revoked, not only decremented
    assert _gcl(limit).active_slots == 0


def test_slots_without_any_lease_are_freed_after_the_grace(limit):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:  # taken outside the slot protocol: no lease, no record
        client.request(
            "POST", "/v2/concurrency_limits/increment", json={"names": [limit], "slots": 1, "mode": "concurrency"}
        )
    assert _gcl(limit).active_slots == 1
    lines: list[str] = []
    thread, got = _wait_in_thread(limit, "rollout", lines, report_s=60, orphan_grace_s=1.5)
    wait_for(lambda: "active" in got, 60, "the waiter to free the unleased slot and take it")
    thread.join(timeout=30)
    assert got["active"] == 1 and got["waited_s"] >= 1.5  # freed only after the grace
    freed = [line for line in lines if line.startswith("freed 1 slot(s) of GPU limit")]
    assert len(freed) == 1 and "neither a live Prefect lease nor a plotline lease record" in freed[0], lines
    assert _gcl(limit).active_slots == 0


def test_a_live_prefect_lease_without_a_record_is_waited_for(limit):
    from prefect.client.orchestration import get_client

    lease_id = _take_with_prefect_lease(limit)  # a live holder outside plotline (its lease renewed by Prefect)
    lines: list[str] = []
    thread, got = _wait_in_thread(limit, "score", lines, report_s=0.2, orphan_grace_s=0.5)
    # well past the grace: slots explained by a live lease are not orphans
    wait_for(lambda: sum(line.startswith("waiting for a slot") for line in lines) >= 10, 60, "repeated wait reports")
    assert "active" not in got
    assert not any(line.startswith(("freed", "released")) for line in lines), lines
    with get_client(sync_client=True) as client:
        client.request("POST", "/v2/concurrency_limits/decrement-with-lease", json={"lease_id": lease_id})
    wait_for(lambda: "active" in got, 60, "the waiter to take the slot once the live lease was released")
    thread.join(timeout=30)
    assert _gcl(limit).active_slots == 0


def test_the_orphan_watch_keeps_the_fewest_and_resets_on_zero():
    watch = OrphanWatch()
    assert watch.observe(2, 10.0) == 0.0 and watch.observe(1, 11.0) == 1.0 and watch.observe(3, 12.5) == 2.5
    assert watch.fewest == 1
    assert watch.observe(0, 13.0) == 0.0 and watch.since is None
    assert watch.observe(1, 20.0) == 0.0 and watch.fewest == 1
