"""The cheap paths of a stage's Prefect plumbing: slot calls retried in milliseconds after a 503, a progress
artifact written once for a stage that reports nothing, one settings copy for heartbeat-free subflows, and no
GPU slot or child process for a stage whose output is already committed."""

from __future__ import annotations

import contextlib
import logging

import httpx
import pytest

import flows.artifacts as artifacts
import flows.slots as slots
import flows.stage_task as stage_task
from flows.dispatch import without_heartbeats
from plotline.progress import ProgressEvent
from tests.flows.helpers import plugin_config, read_calls


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


@pytest.fixture
def slot_log(monkeypatch):
    """Stage tasks run outside Prefect: a plain logger, and a GPU slot that records who took it."""
    taken: list[str] = []

    @contextlib.contextmanager
    def leased_slot(limit, stage, **kw):
        taken.append(stage)
        yield None

    monkeypatch.setattr(slots, "leased_slot", leased_slot)
    monkeypatch.setattr(stage_task, "get_run_logger", lambda: logging.getLogger("test-stage-task"))
    return taken


def test_a_committed_output_is_returned_without_a_slot_or_a_child(tmp_path, calls, slot_log, monkeypatch):
    from stages.base import run_stage

    cfg = plugin_config("orchestration.gpu_slots=1", "orchestration.gpu_stages=[t_count]", "orchestration.audit=false")
    cfg_json, run = cfg.model_dump(mode="json"), str(tmp_path / "runs" / "cached")
    assert stage_task.committed_record("t_count", cfg, run, 0, {}) is None  # its input is missing: it must run
    run_stage("t_seed", cfg, run, 0, show_progress=False)
    assert stage_task.committed_record("t_count", cfg, run, 0, {}) is None  # not committed yet

    first = stage_task.execute_stage.fn("t_count", cfg_json, run, 0, {})
    assert first["status"] == "committed" and slot_log == ["t_count"]
    again = stage_task.execute_stage.fn("t_count", cfg_json, run, 0, {})
    skipped = run_stage("t_count", cfg, run, 0, show_progress=False)  # what the store itself answers
    assert again == stage_task.outcome_record(skipped) and again["status"] == "skipped"
    assert again["manifest_id"] == first["manifest_id"] and slot_log == ["t_count"]  # no second slot
    assert read_calls(calls)["t_count@0"] == 1

    def no_child(*args, **kwargs):
        raise AssertionError("a committed output must not start a child process")

    monkeypatch.setattr(stage_task, "run_stage_process", no_child)
    isolated = cfg.model_copy(deep=True)
    isolated.orchestration.isolation = "subprocess"
    cached = stage_task.execute_stage.fn("t_count", isolated.model_dump(mode="json"), run, 0, {})
    assert cached == again and slot_log == ["t_count"]

    forced = stage_task.execute_stage.fn("t_count", cfg_json, run, 0, {}, True)  # force: runs, under a slot
    assert forced["status"] == "committed" and forced["version"] == first["version"] + 1
    assert slot_log == ["t_count", "t_count"] and read_calls(calls)["t_count@0"] == 2


def test_a_committed_output_writes_no_progress_artifact(tmp_path, calls, slot_log, monkeypatch):
    from stages.base import run_stage

    made: list[str] = []

    class Recorder:
        def __init__(self, key, description, interval_s):
            made.append(description)

        def start(self):
            pass

        def finish(self):
            made.append("finished")

        hook = None

    monkeypatch.setattr(stage_task, "ProgressReporter", Recorder)
    cfg = plugin_config("orchestration.gpu_slots=0", "orchestration.audit=true")
    cfg_json, run = cfg.model_dump(mode="json"), str(tmp_path / "runs" / "cached")
    run_stage("t_seed", cfg, run, 0, show_progress=False)
    assert stage_task.execute_stage.fn("t_count", cfg_json, run, 0, {})["status"] == "committed"
    assert made == ["t_count step 0", "finished"]  # a stage that runs reports its progress
    assert stage_task.execute_stage.fn("t_count", cfg_json, run, 0, {})["status"] == "skipped"
    assert made == ["t_count step 0", "finished"]  # the committed one: no progress artifact (one API call fewer)
