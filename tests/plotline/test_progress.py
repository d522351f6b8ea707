"""plotline.progress: the (done, total, loss) callbacks, their events and listeners, and the plain-line format."""

from __future__ import annotations

import pytest

from plotline.progress import (
    ProgressEvent,
    format_eta,
    format_plain_line,
    listening,
    parse_plain_line,
    phase,
    publish,
    reporter,
    track,
)


def test_track_reports_start_and_every_item_to_sinks_and_listeners():
    sink: list[ProgressEvent] = []
    heard: list[ProgressEvent] = []
    with listening(heard.append):
        items = list(track("abc", reporter("job", sink.append)))
    assert items == ["a", "b", "c"]
    assert [(e.label, e.done, e.total, e.loss) for e in sink] == [("job", i, 3, None) for i in range(4)]
    assert heard == sink
    publish(ProgressEvent("after", 1, 1))  # the listener is gone after the block
    assert len(heard) == 4


def test_reporter_without_broadcast_reaches_only_its_sinks_and_loss_is_a_float():
    sink: list[ProgressEvent] = []
    heard: list[ProgressEvent] = []
    with listening(heard.append):
        reporter("quiet", sink.append, None, broadcast=False)(2, 5, 1)
    assert sink == [ProgressEvent("quiet", 2, 5, 1.0)] and isinstance(sink[0].loss, float)
    assert heard == []


def test_phase_offsets_a_phase_into_the_whole_loop():
    sink: list[ProgressEvent] = []
    whole = reporter("sft", sink.append, broadcast=False)
    first, second = phase(whole, 0, 5), phase(whole, 3, 5)
    first(3, 3, 0.5)
    second(2, 2, 0.25)
    assert [(e.done, e.total, e.loss) for e in sink] == [(3, 5, 0.5), (5, 5, 0.25)]
    assert phase(None, 0, 1) is None


def test_a_failing_listener_is_removed_with_a_warning_and_work_goes_on():
    heard: list[ProgressEvent] = []

    def broken(event):
        raise RuntimeError("display died")

    with listening(heard.append), listening(broken):
        with pytest.warns(UserWarning, match="display died"):
            publish(ProgressEvent("x", 1, 2))
        publish(ProgressEvent("x", 2, 2))  # no second warning: the broken listener is gone
    assert [e.done for e in heard] == [1, 2]


def test_plain_lines_round_trip_with_loss_and_eta():
    event = ProgressEvent("bootstrap@0 planner sft", 45, 900, 0.123456)
    line = format_plain_line(event, eta_s=125)
    assert line == "progress bootstrap@0 planner sft: 45/900 (5%) loss 0.1235 eta 2m05s"
    back = parse_plain_line(line)
    assert back is not None and (back.label, back.done, back.total) == (event.label, 45, 900)
    assert back.loss == pytest.approx(0.1235)
    assert parse_plain_line("progress rollout@1: 7") == ProgressEvent("rollout@1", 7, None, None)
    assert parse_plain_line("plan step 0: committed v0") is None
    assert format_plain_line(ProgressEvent("t", 9, 9), eta_s=None).endswith("9/9 (100%) eta 0s")


def test_eta_format():
    assert [format_eta(s) for s in (None, float("nan"), 0, 59.4, 61, 3725)] == ["?", "?", "0s", "59s", "1m01s", "1h02m"]
