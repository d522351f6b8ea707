"""GPU slot leases against a Prefect API: a dead holder's slot (lease record expired) is released by the next
waiter, which says whom it waited for; a live holder keeps renewing and is waited for, never robbed."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from flows.slots import SlotHolder, _write_record, leased_slot, read_holders, wait_message
from tests.flows.helpers import wait_for


@pytest.fixture
def limit(prefect_harness):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    name = f"unit-gpu-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1, active=True))
    return name


def _active(limit: str) -> int:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_global_concurrency_limit_by_name(limit).active_slots


def test_a_dead_holders_slot_is_released_by_the_next_waiter(limit):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:  # a holder that took the slot and then died: never renewed
        lease = client.increment_concurrency_slots_with_lease([limit], 1, "concurrency", 60).json()["lease_id"]
        _write_record(
            client,
            SlotHolder(
                limit=limit,
                lease_id=str(lease),
                flow_run="ghost-run",
                flow_run_id="f0",
                stage="plan",
                pid=424242,
                host="gone",
                expires_at=time.time() - 5,
            ),
            create=True,
        )
    assert _active(limit) == 1
    lines: list[str] = []
    with leased_slot(limit, "rollout", lease_s=5, poll_s=0.1, report_s=60, log=lines.append) as me:
        assert _active(limit) == 1  # the dead holder's slot went back, this one holds it now
        with get_client(sync_client=True) as client:
            assert [h.lease_id for h in read_holders(client, limit)] == [me.lease_id]
    assert lines[0].startswith(f"waiting for a slot of GPU limit '{limit}' (1/1 slot(s) taken"), lines
    assert "held by flow run ghost-run (f0), stage plan, pid 424242 on gone" in lines[0] and "presumed dead" in lines[0]
    assert lines[1].startswith(f"released the slot of GPU limit '{limit}' held by flow run ghost-run"), lines
    assert _active(limit) == 0
    with get_client(sync_client=True) as client:
        assert read_holders(client, limit) == []


def test_a_live_holder_is_waited_for_and_not_robbed(limit):
    first_lines, second_lines = [], []
    release, second_has_it = threading.Event(), threading.Event()

    def second() -> None:
        with leased_slot(limit, "score", lease_s=6, poll_s=0.1, report_s=0.5, log=second_lines.append):
            second_has_it.set()

    with leased_slot(limit, "rollout", lease_s=6, poll_s=0.1, report_s=60, log=first_lines.append):
        waiter = threading.Thread(target=second, daemon=True)
        waiter.start()
        # waited well past one lease (6 s): a holder that did not renew would have been released by now
        wait_for(
            lambda: sum(line.startswith("waiting for a slot") for line in second_lines) >= 18,
            120,
            "the second holder to report its wait repeatedly",
        )
        assert not second_has_it.is_set() and not any("released the slot" in line for line in second_lines)
        assert "stage rollout" in second_lines[-1] and "lease renewed, expires in" in second_lines[-1]
        release.set()
    wait_for(second_has_it.is_set, 60, "the second holder to get the slot once the first released it")
    waiter.join(timeout=30)
    assert _active(limit) == 0


def test_a_slot_taken_outside_plotline_is_named_as_such():
    line = wait_message("plotline-gpu", 1, 1, [], time.time(), 12.0)
    assert line == (
        "waiting for a slot of GPU limit 'plotline-gpu' (1/1 slot(s) taken, waited 12 s): held by no "
        "plotline lease record (taken outside plotline or before slot leases); free it in the UI or with "
        "`prefect gcl update plotline-gpu --active-slots 0`"
    )


def test_a_slot_taken_without_waiting_is_reported_as_info_not_as_a_warning(limit):
    warnings, infos = [], []
    with leased_slot(limit, "plan", lease_s=6, poll_s=0.1, report_s=60, log=warnings.append, info=infos.append):
        assert _active(limit) == 1
    assert warnings == [] and len(infos) == 1 and infos[0].startswith(f"plan: took a slot of GPU limit '{limit}'")
