"""A reply that is exactly one JSON object is decoded directly: the same value and repairs as the embedded search
(fences, prose, lenient fixes) gives, which still handles everything else."""

from __future__ import annotations

import json
import re

import pytest

from plotline.rewards.jsonextract import (
    JSONExtractError,
    _extract_embedded,
    _whole_object,
    extract_json,
    strip_thinking,
)

WHOLE = [
    json.dumps({"final_score": 7.5, "think": {"note": 'it\'s a {brace} and a \\"quote\\"', "frames": [1, 2]}}),
    json.dumps({"a": "apostrophe ' and } closing", "b": [{"c": None}], "u": "é→✓"}, ensure_ascii=False),
    '{"nan": NaN, "x": {"y": {"z": []}}}',
    '{"dup": 1, "dup": 2}',
    "{}",
]
OTHER = [
    '{"a": 1} {"b": 2}',  # two objects: the search picks one
    "{'a': 1, 'b': True,}",  # lenient fixes
    '```json\n{"a": 1}\n```',
    'prose {"a": 1} more',
    '{"a": "```"}',  # a fence marker inside a string: left to the search
    '{"a": 1',  # truncated
    "[1, 2]",
    '{"a": [1, 2}',
]


@pytest.mark.parametrize("raw", WHOLE + OTHER)
def test_extract_json_equals_the_embedded_search(raw):
    keys = ("a", "final_score")
    text = strip_thinking(raw)
    try:
        expected = _extract_embedded(text, keys)
    except JSONExtractError as exc:
        with pytest.raises(JSONExtractError, match="^" + re.escape(str(exc)) + "$"):
            extract_json(raw, keys)
        return
    got = extract_json(raw, keys)
    assert json.dumps(got.value, sort_keys=True) == json.dumps(expected.value, sort_keys=True)
    assert got.repairs == expected.repairs


def test_whole_object_only_for_one_strict_object():
    assert [_whole_object(r) is not None for r in WHOLE] == [True] * len(WHOLE)
    assert [_whole_object(r) for r in OTHER] == [None] * len(OTHER)
    assert extract_json("<think>draft {</think>\n" + WHOLE[0]).repairs == []
