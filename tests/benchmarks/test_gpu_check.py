"""The `make gpu-check` harness runs its whole code path at CPU size (rollout at N, one update)."""

import math

import torch

from benchmarks.gpu_check import main


def test_gpu_check_code_path_runs_on_cpu_at_tiny_size(capsys):
    torch.set_num_threads(1)
    res = main(["--tiny", "--device", "cpu", "--dtype", "float32", "--n", "4", "--micro-batch", "2"])
    assert res["rollout_s"] > 0 and res["update_s"] > 0
    assert res["rollout_flops"] > 0 and res["update_flops"] > res["rollout_flops"] / 100
    assert math.isfinite(res["grad_norm"]) and res["grad_norm"] > 0
    assert res["rollout_mfu"] is None  # no utilisation figure on a CPU
    out = capsys.readouterr().out
    assert "rollout" in out and "update" in out and "grad norm" in out
