"""Data contracts: exact schemas and great-expectations suites reject bad data with readable reports."""

import json
import math

import pyarrow as pa
import pytest

from data_contracts import ArtifactKind, all_kinds, get_kind, register_kind, validate

GROUP_KIND = "test_grouped_rewards"


@pytest.fixture(scope="module")
def grouped_kind(tmp_path_factory):
    """A kind with complete-group and range checks, defined outside the package like a plugin."""
    folder = tmp_path_factory.mktemp("suites")
    (folder / f"{GROUP_KIND}.json").write_text(
        json.dumps(
            {
                "name": GROUP_KIND,
                "expectations": [
                    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "sample_id"}},
                    {
                        "type": "expect_column_values_to_be_between",
                        "kwargs": {
                            "column": "_per_group",
                            "min_value": {"$PARAMETER": "N"},
                            "max_value": {"$PARAMETER": "N"},
                        },
                    },
                    {
                        "type": "expect_column_values_to_be_between",
                        "kwargs": {"column": "reward", "min_value": 0, "max_value": 1},
                    },
                    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "reward"}},
                    {
                        "type": "expect_column_values_to_be_between",
                        "kwargs": {"column": "_nonfinite_values", "min_value": 0, "max_value": 0},
                    },
                ],
            }
        )
    )
    if GROUP_KIND not in all_kinds():
        register_kind(
            ArtifactKind(
                name=GROUP_KIND,
                suite_dir=folder,
                schema=pa.schema(
                    [
                        ("sample_id", pa.string()),
                        ("group_id", pa.string()),
                        ("reward", pa.float64()),
                        ("logp", pa.list_(pa.float32())),
                    ]
                ),
                group_sizes={"_per_group": ("group_id",)},
                params=("N",),
            )
        )
    return get_kind(GROUP_KIND)


def rows(n_groups=2, n=3, reward=0.5, logp=(-1.0, -2.0)):
    return [
        {"sample_id": f"g{g}-{i}", "group_id": f"g{g}", "reward": reward, "logp": list(logp)}
        for g in range(n_groups)
        for i in range(n)
    ]


def table(kind, data):
    return pa.Table.from_pylist(data, schema=kind.schema)


def test_every_kind_has_a_loadable_suite():
    for name, kind in all_kinds().items():
        suite = json.loads(kind.suite_path.read_text())
        assert suite["expectations"], f"suite of {name} is empty"


def test_good_table_passes(grouped_kind):
    report = validate(GROUP_KIND, table(grouped_kind, rows()), {"N": 3})
    assert report.success, report.format()
    assert report.summary()["rows"] == 6 and report.checks_run >= 5


def test_incomplete_group_is_rejected(grouped_kind):
    data = rows()[:-1]  # group g1 has 2 of 3
    report = validate(GROUP_KIND, table(grouped_kind, data), {"N": 3})
    assert not report.success
    assert any(f.column == "_per_group" and "expected min_value=3" in f.detail for f in report.failures), (
        report.format()
    )


def test_nan_reward_and_nan_inside_list_are_rejected(grouped_kind):
    data = rows()
    data[0]["reward"] = math.nan
    report = validate(GROUP_KIND, table(grouped_kind, data), {"N": 3})
    assert not report.success and any(f.column == "_nonfinite_values" for f in report.failures), report.format()
    data = rows()
    data[4]["logp"] = [-1.0, math.inf]
    report = validate(GROUP_KIND, table(grouped_kind, data), {"N": 3})
    assert [f.column for f in report.failures] == ["_nonfinite_values"], report.format()


def test_out_of_range_and_duplicate_ids_are_named(grouped_kind):
    data = rows()
    data[1]["reward"] = 1.5
    data[2]["sample_id"] = data[0]["sample_id"]
    report = validate(GROUP_KIND, table(grouped_kind, data), {"N": 3})
    cols = {f.column for f in report.failures}
    assert {"reward", "sample_id"} <= cols, report.format()
    text = report.format("runs/x/step=000001/score/v0000/scores.parquet")
    assert "scores.parquet" in text and "1.5" in text


def test_wrong_schema_names_the_column(grouped_kind):
    bad = pa.table({"sample_id": ["a"], "group_id": ["g"], "reward": ["high"], "logp": [[0.0]]})
    report = validate(GROUP_KIND, bad, {"N": 1})
    assert not report.success
    assert any(f.check == "schema" and f.column == "reward" for f in report.failures)
    assert any(f.check == "schema" and f.column == "logp" for f in report.failures)


def test_missing_parameter_is_an_error(grouped_kind):
    with pytest.raises(ValueError, match="needs parameters"):
        validate(GROUP_KIND, table(grouped_kind, rows()), {})


def test_instructions_contract():
    kind = get_kind("instructions")
    good = [
        {
            "instruction_id": "a",
            "prompt": "a cat jumps",
            "category": "animal",
            "split": "train",
            "steps": [],
            "source": "t",
        }
    ]
    assert validate("instructions", pa.Table.from_pylist(good, schema=kind.schema)).success
    bad = good + [{**good[0], "prompt": "", "split": "dev"}]
    report = validate("instructions", pa.Table.from_pylist(bad, schema=kind.schema))
    assert {f.column for f in report.failures} >= {"instruction_id", "prompt", "split"}


def test_unknown_kind_lists_known_ones():
    with pytest.raises(KeyError, match="known kinds: .*instructions"):
        get_kind("nope")
