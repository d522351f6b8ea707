"""The cached validation machinery: one GE suite per (kind, version, suite text), a fresh validator per table,
a cheap first pass whose verdict and reports equal a single full-report pass, and a memo that computes what
GE's own function computes."""

from __future__ import annotations

import dataclasses
import json
import math

import pyarrow as pa
import pytest

import data_contracts.ge_runner as ge_runner
from data_contracts import ArtifactKind, all_kinds, get_kind, register_kind, validate
from data_contracts.validate import to_validation_frame

KIND_A = "test_cache_rewards"
KIND_B = "test_cache_labels"


def _suite_file(folder, name, expectations):
    (folder / f"{name}.json").write_text(json.dumps({"name": name, "expectations": expectations}))


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    """Two plugin kinds with different columns and rules."""
    folder = tmp_path_factory.mktemp("cache_suites")
    _suite_file(
        folder,
        KIND_A,
        [
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "sample_id"}},
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "_per_group", "min_value": {"$PARAMETER": "N"}, "max_value": {"$PARAMETER": "N"}},
            },
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "reward", "min_value": 0, "max_value": 1},
            },
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "_nonfinite_values", "min_value": 0, "max_value": 0},
            },
        ],
    )
    _suite_file(
        folder,
        KIND_B,
        [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "label"}},
            {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "label", "value_set": ["yes", "no"]}},
        ],
    )
    a = ArtifactKind(
        name=KIND_A,
        suite_dir=folder,
        schema=pa.schema([("sample_id", pa.string()), ("group_id", pa.string()), ("reward", pa.float64())]),
        group_sizes={"_per_group": ("group_id",)},
        params=("N",),
    )
    b = ArtifactKind(name=KIND_B, suite_dir=folder, schema=pa.schema([("item", pa.string()), ("label", pa.string())]))
    for kind in (a, b):
        if kind.name not in all_kinds():
            register_kind(kind)
    return get_kind(KIND_A), get_kind(KIND_B)


def rewards(kind, n_groups=2, n=3, reward=0.5):
    data = [
        {"sample_id": f"g{g}-{i}", "group_id": f"g{g}", "reward": reward} for g in range(n_groups) for i in range(n)
    ]
    return pa.Table.from_pylist(data, schema=kind.schema)


def labels(kind, values):
    return pa.Table.from_pylist([{"item": str(i), "label": v} for i, v in enumerate(values)], schema=kind.schema)


def reference(kind, tbl, params):
    """The report of one full-report (SUMMARY) pass, the single pass validation made before the cheap first pass."""
    frame = to_validation_frame(kind.name, tbl)
    result = ge_runner._validate(frame, ge_runner.suite_for(kind), params, ge_runner.REPORT_FORMAT)
    return [f.describe() for f in (ge_runner._failure(r, params) for r in result.results if not r.success)]


def test_one_suite_per_kind_and_version(kinds):
    a, b = kinds
    assert ge_runner.suite_for(a) is ge_runner.suite_for(a)
    assert ge_runner.suite_for(a) is not ge_runner.suite_for(b)
    bumped = dataclasses.replace(a, version=a.version + 1)
    assert ge_runner.suite_for(bumped) is not ge_runner.suite_for(a)
    assert ge_runner.suite_for(bumped).name != ge_runner.suite_for(a).name


def test_cached_validator_still_rejects_bad_data_after_good(kinds):
    a, _ = kinds
    assert validate(KIND_A, rewards(a), {"N": 3}).success
    bad = rewards(a).to_pylist()
    bad[1]["reward"] = 1.5
    bad[2]["sample_id"] = bad[0]["sample_id"]
    bad_table = pa.Table.from_pylist(bad, schema=a.schema)
    report = validate(KIND_A, bad_table, {"N": 3})
    assert not report.success
    assert {f.column for f in report.failures} == {"reward", "sample_id"}, report.format()
    assert [f.describe() for f in report.failures] == reference(a, bad_table, {"N": 3})
    assert any(1.5 in f.examples for f in report.failures)
    # the good table again, then an incomplete group and a NaN: each verdict is the table's own
    assert validate(KIND_A, rewards(a), {"N": 3}).success
    incomplete = rewards(a).slice(0, 5)
    report = validate(KIND_A, incomplete, {"N": 3})
    assert [f.column for f in report.failures] == ["_per_group"], report.format()
    assert [f.describe() for f in report.failures] == reference(a, incomplete, {"N": 3})
    nan = rewards(a, reward=math.nan)
    assert [f.column for f in validate(KIND_A, nan, {"N": 3}).failures] == ["_nonfinite_values"]
    # a parameter change is seen: the same good table with groups of 3 fails for N=2
    assert not validate(KIND_A, rewards(a), {"N": 2}).success
    assert validate(KIND_A, rewards(a), {"N": 3}).success


def test_two_kinds_do_not_share_state(kinds):
    a, b = kinds
    assert validate(KIND_A, rewards(a), {"N": 3}).success
    bad_labels = labels(b, ["yes", "maybe", None])
    report = validate(KIND_B, bad_labels, {})
    assert {f.check for f in report.failures} == {
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_in_set",
    }, report.format()
    assert {f.column for f in report.failures} == {"label"}
    assert [f.describe() for f in report.failures] == reference(b, bad_labels, {})
    assert validate(KIND_A, rewards(a), {"N": 3}).success
    assert validate(KIND_B, labels(b, ["yes", "no"]), {}).success
    assert report.checks_run == 1 + 2  # schema + the two expectations of KIND_B only


def test_checks_run_is_the_same_on_both_passes(kinds):
    a, _ = kinds
    good = validate(KIND_A, rewards(a), {"N": 3})
    bad = validate(KIND_A, rewards(a, reward=2.0), {"N": 3})
    assert good.checks_run == bad.checks_run == 1 + 4


def test_class_name_memo_computes_what_ge_computes(kinds):
    import re

    import great_expectations.expectations.expectation as expectation_module

    ge_runner._context()
    memo = expectation_module.camel_to_snake
    assert hasattr(memo, "cache_info"), "the memo is installed with the context"

    def snake(name):  # the conversion written out: a capital after a lower-case letter or digit starts a word
        name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
        return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()

    names = [
        "ExpectColumnValuesToBeBetween",
        "ExpectCompoundColumnsToBeUnique",
        "ExpectTableRowCountToEqual",
        "ExpectColumnKLDivergenceToBeLessThan",
        "HTTPResponse2XX",
    ]
    for name in names:
        assert memo(name) == memo.__wrapped__(name) == snake(name)
    assert memo("ExpectColumnValuesToBeBetween") == "expect_column_values_to_be_between"
