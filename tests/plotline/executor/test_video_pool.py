"""mp4 encoding in a worker pool: byte-identical to the sequential encoder, in order; and the overlapped
pipeline encodes plan i while plan i+1 is produced (shown with events, not timing) and yields what the
one-at-a-time loop yields."""

import threading

import numpy as np
import torch

from plotline.executor.rollout_job import PlanRollout, mp4s, submit_mp4s
from plotline.executor.video_io import EncoderPool, encode_mp4, overlapped


def _videos(count, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size=(5, 16, 16, 3), dtype=np.uint8) for _ in range(count)]


def test_pool_bytes_equal_the_sequential_encoder_in_order():
    videos = _videos(3)
    want = [encode_mp4(v, 8) for v in videos]
    with EncoderPool(workers=3) as pool:
        assert pool.encode_all(videos, 8) == want
        pr = PlanRollout(None, [], [], 0, torch.from_numpy(np.stack(videos)).float() / 255, [])
        assert mp4s(pr, 8, pool) == mp4s(pr, 8)
        assert [f.result() for f in submit_mp4s(pr, 8, pool)] == mp4s(pr, 8)


def test_overlapped_encodes_item_i_while_item_i_plus_1_is_produced():
    started = {i: threading.Event() for i in range(4)}
    log = []

    def produce(i):
        started[i].set()
        log.append(("produce", i))
        return i * 10

    def submit(x):
        i = x // 10
        done = threading.Event()

        def encode():  # the encode of item i waits until item i+1's production has begun: only an overlap passes
            if i + 1 in started:
                assert started[i + 1].wait(timeout=30), f"item {i + 1} was not produced while {i} encoded"
            done.set()
            return x + 1

        t = threading.Thread(target=encode)
        t.start()
        return t, done, x + 1

    def finish(i, produced, pending):
        t, done, value = pending
        t.join(timeout=30)
        assert done.is_set()
        log.append(("finish", i))
        return (i, produced, value)

    got = list(overlapped(range(4), produce, submit, finish))
    assert got == [(i, i * 10, i * 10 + 1) for i in range(4)]
    assert log.index(("produce", 1)) < log.index(("finish", 0))
    assert list(overlapped([], produce, submit, finish)) == []
