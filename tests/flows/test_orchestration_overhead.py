"""The cheap paths of a stage's Prefect plumbing: slot calls retried in milliseconds after a 503, a progress
artifact written once for a stage that reports nothing, and one settings copy for heartbeat-free subflows."""

from __future__ import annotations

import httpx
import pytest

import flows.artifacts as artifacts
import flows.slots as slots
from flows.dispatch import without_heartbeats
from plotline.progress import ProgressEvent


class FakeClient:
    """A sync Prefect client's two doors: `_client` (an httpx client) and `request` (its retrying call)."""

    def __init__(self, statuses: list[int]):
        self.statuses, self.seen, self.fallbacks = list(statuses), [], []

        def answer(request: httpx.Request) -> httpx.Response:
            self.seen.append((request.method, request.url.path))
            return httpx.Response(self.statuses.pop(0), json={"lease_id": "L"}, request=request)

        self._client = httpx.Client(base_url="http://api.test/api", transport=httpx.MockTransport(answer))

    def request(self, method, path, json=None):
        self.fallbacks.append((method, path))
        return httpx.Response(200, json={"via": "client"}, request=httpx.Request(method, "http://api.test" + path))


@pytest.fixture
def pauses(monkeypatch):
    seen: list[float] = []
    monkeypatch.setattr(slots.time, "sleep", seen.append)
    return seen


def test_a_503_is_retried_after_milliseconds_not_the_clients_seconds(pauses):
    client = FakeClient([503, 503, 200])
    response = slots.quick_request(client, "POST", "/v2/concurrency_limits/increment-with-lease", json={"a": 1})
    assert response.json() == {"lease_id": "L"} and client.fallbacks == []
    assert pauses == list(slots.QUICK_RETRY_S[:2])
    assert client.seen == [("POST", "/api/v2/concurrency_limits/increment-with-lease")] * 3


def test_a_full_limit_raises_423_for_the_waiting_loop(pauses):
    client = FakeClient([423])
    with pytest.raises(httpx.HTTPStatusError) as err:
        slots.quick_request(client, "POST", "/v2/concurrency_limits/increment-with-lease")
    assert slots._locked(err.value) and pauses == []


def test_persistent_503_and_403_go_to_the_clients_own_request(pauses):
    busy = FakeClient([503] * len(slots.QUICK_RETRY_S))
    assert slots.quick_request(busy, "DELETE", "/variables/name/x").json() == {"via": "client"}
    assert pauses == list(slots.QUICK_RETRY_S) and busy.fallbacks == [("DELETE", "/variables/name/x")]
    csrf = FakeClient([403])
    assert slots.quick_request(csrf, "POST", "/variables/").json() == {"via": "client"}
    assert csrf.fallbacks == [("POST", "/variables/")]


def test_progress_is_one_write_for_a_silent_stage_and_create_then_updates_otherwise(monkeypatch):
    calls: list[tuple] = []
    monkeypatch.setattr(artifacts, "create_progress_artifact", lambda **kw: calls.append(("create", kw)) or "id-1")
    monkeypatch.setattr(artifacts, "update_progress_artifact", lambda **kw: calls.append(("update", kw)))
    silent = artifacts.ProgressReporter("k", "plan step 0", interval_s=0)
    silent.start()
    silent.finish()
    assert [(c, kw["progress"]) for c, kw in calls] == [("create", 100.0)]
    assert calls[0][1]["key"] == "k" and calls[0][1]["description"] == "plan step 0: done"

    calls.clear()
    busy = artifacts.ProgressReporter("k", "rollout step 0", interval_s=0)
    busy.start()
    busy.hook(ProgressEvent("plans", 1, 4))
    busy.hook(ProgressEvent("plans", 2, 4))
    busy.finish()
    assert [(c, kw["progress"]) for c, kw in calls] == [("create", 25.0), ("update", 50.0), ("update", 100.0)]
    assert all(kw["artifact_id"] == "id-1" for c, kw in calls[1:])


def test_heartbeat_free_settings_are_copied_once_and_left_on_exit():
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: 30}):
        with without_heartbeats():
            first = PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value()
            from prefect.context import get_settings_context

            copy = get_settings_context().settings
        with without_heartbeats():
            assert get_settings_context().settings is copy  # the same copy, not a new one
        assert first is None and PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value() == 30
