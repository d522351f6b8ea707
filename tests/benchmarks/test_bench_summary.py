"""`make bench`'s summary: every benchmark's ratios side by side from one run, and the orchestration benchmark's
model clock (time inside top-level forwards and backward calls, nested modules counted once)."""

import torch
from torch import nn

import benchmarks.bench_orchestration as orch
from benchmarks.__main__ import summary_table
from benchmarks.bench_reflection import ratios as reflection_ratios
from benchmarks.bench_rollout_flops import ratios as flops_ratios
from benchmarks.bench_rollout_fork import ratios as fork_ratios


def test_summary_lists_each_benchmarks_ratios_from_its_result():
    fork = {
        6: {
            "N videos, one at a time": {"seconds": 6.0, "flops": 40},
            "fork (prefix once, batch)": {"seconds": 2.0, "flops": 10},
        }
    }
    summary = {
        **fork_ratios(fork),
        **reflection_ratios({"chunk_ratio": 1.25, "critic_calls_per_video": 3.0}),
        **flops_ratios([{"k": 12, "decode_ratio": 1.95, "floor_s": 7.6}]),
        **orch.ratios(
            {
                "non_model_fraction": 0.4,
                "framework_fraction": 0.3,
                "prefect_overhead_mean_s": 1.5,
                "prefect_overhead_median_s": 0.5,
            }
        ),
    }
    assert summary["orchestration: Prefect s per inline stage (median)"] == 0.5
    assert summary["fork k=6: N videos, one at a time time×"] == 3.0
    assert summary["fork k=6: N videos, one at a time FLOP×"] == 4.0
    assert summary["rollout k=12: decode FLOPs full / prefix once"] == 1.95
    lines = summary_table(summary).splitlines()
    assert lines[0] == "== ratios (this run)" and len(lines) == 1 + len(summary)
    assert len({line.index("  ") for line in lines[1:] if "  " in line}) >= 1
    assert any(line.endswith("1.250") for line in lines)


def test_model_clock_counts_top_level_forwards_and_backward_once(monkeypatch):
    ticks = iter(range(1000))
    monkeypatch.setattr(orch.time, "perf_counter", lambda: float(next(ticks)))
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 2)))  # nested modules inside one forward
    x = torch.ones(1, 2)
    with orch.ModelClock() as clock:
        y = model(x)  # one top-level forward: 2 ticks read (enter, leave) -> 1 s
        after_forward = clock.seconds
        y.sum().backward()  # one backward call -> 1 s
    assert after_forward == 1.0 and clock.seconds == 2.0
    assert torch.autograd.backward is not None and model(x).shape == (1, 2)  # hooks and patch removed
    assert clock.seconds == 2.0


def test_judge_clock_counts_the_programmatic_backend_and_restores_it(monkeypatch):
    from plotline.rewards.judges.programmatic import ProgrammaticJudgeBackend

    original = ProgrammaticJudgeBackend.complete
    ticks = iter(range(1000))
    with orch.JudgeClock() as clock:
        monkeypatch.setattr(orch.time, "perf_counter", lambda: float(next(ticks)))
        replies = ProgrammaticJudgeBackend().complete([])
        monkeypatch.undo()
    assert replies == [] and clock.seconds == 1.0  # one call: 2 ticks read by the clock
    assert ProgrammaticJudgeBackend.complete is original


def test_model_clock_counts_optimizer_steps_apart_and_in_model_time(monkeypatch):
    model = nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model(torch.ones(1, 2)).sum().backward()
    ticks = iter(range(1000))
    monkeypatch.setattr(orch.time, "perf_counter", lambda: float(next(ticks)))
    with orch.ModelClock() as clock:
        opt.step()  # one step: 2 ticks read (pre hook, post hook) -> 1 s
        opt.step()
    assert clock.optimizer_seconds == 2.0 and clock.seconds == 2.0
    opt.step()  # hooks removed: not counted
    assert clock.optimizer_seconds == 2.0


def test_orchestration_ratios_list_the_measured_parts_only():
    base = {
        "non_model_fraction": 0.4,
        "framework_fraction": 0.3,
        "prefect_overhead_mean_s": 0.25,
        "prefect_overhead_median_s": 0.24,
    }
    assert len(orch.ratios(base)) == 4
    full = orch.ratios(
        {**base, "gpu_slot_s": 0.15, "validation_old_s": 0.5, "validation_new_s": 0.25, "real_share_32gpu": 0.05}
    )
    assert full["orchestration: validation s per table, before / now"] == 2.0
    assert full["orchestration: share of a real-size step at its floor, 32 GPU(s)"] == 0.05
    assert "orchestration: share of a real-size step at its floor, 1 GPU(s)" not in full
