"""Parsing planner text: thinking blocks, fences, prose, trailing commas; format reward and smoothing."""

import pytest

from plotline.executor.prompts import smooth_steps
from plotline.planner.parsing import extract_steps, failed_plan, parse_plan, strip_thinking

G = "a red square moves right, then turns blue"


@pytest.mark.parametrize(
    "text",
    [
        '["A", "B", "C"]',
        '<think>\nI think ["X"] could work.\n</think>\n\n["A", "B", "C"]',
        'Sure! Here is the plan:\n```json\n["A", "B", "C"]\n```\nHope this helps.',
        '```\n[\n  "A",\n  "B",\n  "C",\n]\n```',
        'The plan is ["A", "B", "C",] as requested.',
        '{"steps": [{"prompt": "A"}, {"prompt": "B"}, {"caption": "C"}]}',
        'Plan: [3 steps] -> ["A", "B", "C"]',
    ],
)
def test_robust_extraction(text):
    assert extract_steps(text) == ["A", "B", "C"]


def test_brackets_inside_strings_do_not_confuse_the_scanner():
    assert extract_steps('["a [red] square", "it ]turns["]') == ["a [red] square", "it ]turns["]


def test_format_reward_levels():
    ok = parse_plan('["A", "B", "C"]', 3, G)
    assert (ok.status, ok.format_reward, ok.steps) == ("ok", 1.0, ["A", "B", "C"])
    extra = parse_plan('["A", "B", "C", "D"]', 3, G)
    assert (extra.status, extra.format_reward, extra.steps, extra.found) == ("truncated", 1.0, ["A", "B", "C"], 4)
    few = parse_plan('["A"]', 3, G)
    assert (few.status, few.format_reward, few.steps) == ("padded", 0.5, ["A", "A", "A"])
    for junk in ("", "no json here", "[1, 2, 3]", '["  ", ""]', '<think>\n["A", "B"] unfinished thought'):
        bad = parse_plan(junk, 3, G)
        assert (bad.status, bad.format_reward, bad.steps) == ("unparsed", 0.0, [G, G, G]), junk


def test_smoothing_joins_neighbours_and_keeps_last_alone():
    assert smooth_steps(["A", "B", "C"], " then ") == ["A then B", "B then C", "C"]
    assert smooth_steps(["A"]) == ["A"]
    assert parse_plan('["A", "B"]', 2, G, joiner=" / ").smoothed_steps == ["A / B", "B"]


def test_thinking_is_stripped_and_failed_plan_falls_back():
    assert strip_thinking("<think>x</think>\n\nY") == "\n\nY"
    assert strip_thinking("<think>unfinished") == ""
    f = failed_plan(2, G)
    assert (f.status, f.format_reward, f.steps, f.smoothed_steps) == ("failed", 0.0, [G, G], [f"{G} {G}", G])
