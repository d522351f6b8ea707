"""The rollout's mp4 encoding overlapped with the next plan's generation (`roll_jobs` with an EncoderPool) gives
the outputs of `roll_job` one plan at a time, byte for byte: group tensors, mp4 files and rows."""

from __future__ import annotations

from plotline.executor.sharding import roll_job, roll_jobs, rollout_jobs
from plotline.store.tensors import tensors_to_bytes


def _plans(n: int) -> list[dict]:
    spans = ["a red square on the left", "the square moves right", "the square turns blue", "the square grows"]
    return [
        {
            "plan_id": f"i{p // 2}/p{p % 2}",
            "instruction_id": f"i{p // 2}",
            "prompt": "a square moves, turns blue and grows",
            "steps": spans,
            "smoothed_steps": spans,
        }
        for p in range(n)
    ]


def _bytes(out) -> tuple:
    return (out.group_path, tensors_to_bytes(out.tensors, out.metadata), out.videos, out.rows)


def test_overlapped_encoding_gives_the_one_at_a_time_outputs(tiny_executor, monkeypatch):
    ex = tiny_executor
    jobs = rollout_jobs(_plans(3), [3, 6], ex.config.num_continuations, lambda *k: 17 + len("".join(map(str, k))))
    assert ex.config.decode_videos and ex.config.encoder_workers > 0
    pooled = [_bytes(o) for o in roll_jobs(ex, jobs, "base")]
    one_by_one = [_bytes(roll_job(ex, job, "base")) for job in jobs]
    assert len(pooled) == 3 and all(len(videos) == ex.config.num_continuations for _, _, videos, _ in pooled)
    assert all(b"ftyp" in data[:64] for _, _, videos, _ in pooled for data in videos.values())
    assert pooled == one_by_one
    monkeypatch.setattr(ex.config, "encoder_workers", 0)
    assert [_bytes(o) for o in roll_jobs(ex, jobs, "base")] == one_by_one
