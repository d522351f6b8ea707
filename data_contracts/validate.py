"""validate(kind, table): schema check + derived columns + the kind's great-expectations suite."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from data_contracts.ge_runner import run_suite
from data_contracts.registry import get_kind
from data_contracts.report import CheckFailure, ValidationReport

NONFINITE_COLUMN = "_nonfinite_values"


def _schema_failures(expected: pa.Schema, actual: pa.Schema) -> list[CheckFailure]:
    failures = []
    exp_names, act_names = set(expected.names), set(actual.names)
    for name in expected.names:
        if name not in act_names:
            failures.append(CheckFailure("schema", name, f"missing column (expected type {expected.field(name).type})"))
        elif not actual.field(name).type.equals(expected.field(name).type):
            failures.append(
                CheckFailure("schema", name, f"type {actual.field(name).type}, expected {expected.field(name).type}")
            )
    for name in actual.names:
        if name not in exp_names:
            failures.append(CheckFailure("schema", name, "unexpected column"))
    return failures


def _is_floatish(t: pa.DataType) -> bool:
    if pa.types.is_floating(t):
        return True
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _is_floatish(t.value_type)
    return False


def _count_nonfinite(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, (list, tuple, np.ndarray)):
        arr = np.asarray(value, dtype=object).ravel()
        return sum(_count_nonfinite(v) for v in arr)
    if isinstance(value, float):
        return 0 if math.isfinite(value) else 1
    return 0


def nonfinite_per_row(table: pa.Table) -> np.ndarray:
    """Number of NaN/inf values per row across every float and list-of-float column."""
    counts = np.zeros(table.num_rows, dtype=np.int64)
    for name in table.column_names:
        col = table.column(name)
        if not _is_floatish(col.type):
            continue
        if pa.types.is_floating(col.type):
            values = col.to_numpy(zero_copy_only=False).astype(np.float64)
            present = ~col.is_null().to_numpy(zero_copy_only=False)
            counts += (~np.isfinite(values) & present).astype(np.int64)
        else:
            counts += np.fromiter((_count_nonfinite(v) for v in col.to_pylist()), dtype=np.int64, count=table.num_rows)
    return counts


def to_validation_frame(kind_name: str, table: pa.Table) -> pd.DataFrame:
    """The pandas frame the suite sees: the table's scalar columns plus derived group-size and non-finite columns."""
    kind = get_kind(kind_name)
    scalar = [
        n
        for n in table.column_names
        if not (
            pa.types.is_list(table.schema.field(n).type)
            or pa.types.is_large_list(table.schema.field(n).type)
            or pa.types.is_struct(table.schema.field(n).type)
        )
    ]
    frame = table.select(scalar).to_pandas()
    frame[NONFINITE_COLUMN] = nonfinite_per_row(table)
    for derived, keys in kind.group_sizes.items():
        missing = [k for k in keys if k not in frame.columns]
        if missing:
            frame[derived] = 0
        else:
            frame[derived] = frame.groupby(list(keys), dropna=False)[keys[0]].transform("size").astype("int64")
    return frame


def validate(kind: str, table: pa.Table | pd.DataFrame, params: dict[str, Any] | None = None) -> ValidationReport:
    """Check `table` against the contract of `kind`: exact schema, then the great-expectations suite.

    `params` supplies suite parameters such as the group sizes M and N. Returns a ValidationReport; it never
    raises on bad data (callers decide), only on a bad call (unknown kind, missing parameters).
    """
    contract = get_kind(kind)
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    report = ValidationReport(kind=kind, rows=table.num_rows, schema_version=contract.version)
    report.failures += _schema_failures(contract.schema, table.schema)
    report.checks_run += 1
    if report.failures:  # the suite assumes the schema; stop here with the schema problems
        return report
    frame = to_validation_frame(kind, table)
    checks, failures = run_suite(contract, frame, params or {})
    report.checks_run += checks
    report.failures += failures
    return report
