"""The worker protocol: error records become the parent's exception; the launch command; the identity collective."""

from __future__ import annotations

import sys

import pytest
import torch

from plotline.executor.prompts import PlanTooShort
from plotline.parallel import launch
from plotline.parallel.collective import Collective


def _report(tmp_path, exc, rank, monkeypatch):
    monkeypatch.setenv("RANK", str(rank))
    try:
        raise exc
    except BaseException as e:  # noqa: BLE001
        launch.report_error(tmp_path, e)


def test_earliest_error_is_reraised_as_its_own_class_with_the_traceback(tmp_path, monkeypatch):
    _report(tmp_path, PlanTooShort("plan x has 1 step prompts"), 1, monkeypatch)
    _report(tmp_path, RuntimeError("peer went away"), 0, monkeypatch)
    with pytest.raises(PlanTooShort, match="plan x has 1 step prompts") as info:
        launch.raise_failure(tmp_path, "rollout", 1)
    assert info.value.__notes__ == ["raised in rollout rank 1"]
    cause = info.value.__cause__
    assert (
        isinstance(cause, launch.WorkerError) and "Traceback" in str(cause) and "ranks [0] failed after" in str(cause)
    )


def test_foreign_or_missing_errors_become_worker_errors(tmp_path, monkeypatch):
    class Foreign(Exception):
        pass

    _report(tmp_path / "a", Foreign("odd"), 0, monkeypatch)
    with pytest.raises(launch.WorkerError, match="rank 0 failed: .*Foreign: odd"):
        launch.raise_failure(tmp_path / "a", "update_executor", 1)
    log = tmp_path / "b" / "launch.log"
    log.parent.mkdir()
    log.write_text("Killed\n")
    with pytest.raises(launch.WorkerError, match=r"exit code -9\) without reporting an error(.|\n)*Killed"):
        launch.raise_failure(tmp_path / "b", "update_executor", -9, [log])


def test_accelerate_command_uses_torchrun_ranks_and_the_given_port():
    cmd = launch.accelerate_command("/tmp/spec.json", 2, 12345, 1)
    assert cmd[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert "--multi_gpu" in cmd and cmd[cmd.index("--num_processes") + 1] == "2"
    assert cmd[cmd.index("--main_process_port") + 1] == "12345"
    assert cmd[-3:] == ["-m", "plotline.parallel.worker", "/tmp/spec.json"]


def test_single_process_collective_is_the_identity():
    c = Collective()
    p = torch.nn.Parameter(torch.ones(2))
    p.grad = torch.full((2,), 3.0)
    c.sum_grads([p])
    assert torch.equal(p.grad, torch.full((2,), 3.0))
    assert c.share([1, 2, 3]) == [1, 2, 3] and c.gather([4]) == [4] and c.sum_floats([1, 2]) == [1.0, 2.0]
    assert c.is_main and c.world_size == 1 and c.min_float(2) == 2.0
