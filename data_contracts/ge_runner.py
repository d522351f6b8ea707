"""Runs a kind's great-expectations suite on a pandas frame (one ephemeral context per process).

Built once per process and reused: the GE context with its pandas data source and whole-frame batch definition,
and one ExpectationSuite per (kind, schema version, suite text). Each table gets a fresh batch and validator (GE
caches metrics per validator, so none is shared between tables). A table is first checked with the cheapest
result format (`BOOLEAN_ONLY`: the same expectations and verdicts, without failure details); only a table that
fails is checked again with `SUMMARY` for the report's counts, bounds and examples.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from functools import cache, lru_cache
from typing import Any

import pandas as pd

from data_contracts.kind import ArtifactKind
from data_contracts.report import CheckFailure

_lock = threading.Lock()

FAST_FORMAT = "BOOLEAN_ONLY"
"""Result format of the first pass: success per expectation only."""
REPORT_FORMAT = "SUMMARY"
"""Result format of the second pass, run only on a table that failed: counts, observed values, examples."""


def _memoize_class_names() -> None:
    """Memoize GE's `camel_to_snake` where the Expectation class uses it.

    GE turns an expectation's class name into its snake_case type on every read of `Expectation.configuration`
    (about 80 reads per expectation per validation, each two regular-expression substitutions): a fifth of a
    table's validation time. The function is pure (a string in, a string out), so its memo returns exactly what
    it would compute.
    """
    import great_expectations.expectations.expectation as expectation_module

    current = expectation_module.camel_to_snake
    if not hasattr(current, "cache_info"):
        expectation_module.camel_to_snake = lru_cache(maxsize=1024)(current)


@lru_cache(maxsize=1)
def _context():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    _memoize_class_names()
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = ctx.data_sources.add_pandas("plotline")
    asset = source.add_dataframe_asset("artifact")
    batch_definition = asset.add_batch_definition_whole_dataframe("whole")
    return ctx, batch_definition


def load_suite_json(kind: ArtifactKind) -> dict:
    """The suite JSON of a kind, with a clear error if the file is missing or malformed."""
    path = kind.suite_path
    if not path.is_file():
        raise FileNotFoundError(f"great-expectations suite for kind {kind.name!r} not found at {path}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"suite {path} is not valid JSON: {exc}") from exc
    if "expectations" not in data:
        raise ValueError(f"suite {path} has no 'expectations' list")
    return data


@cache
def _suite(kind_name: str, version: int, suite_text: str):
    """The GE suite of one kind at one schema version and suite text (built once per process)."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    ctx, _ = _context()
    data = json.loads(suite_text)
    suite = gx.ExpectationSuite(name=f"plotline.{kind_name}.v{version}.{abs(hash(suite_text))}")
    for exp in data["expectations"]:
        suite.add_expectation_configuration(ExpectationConfiguration(type=exp["type"], kwargs=exp.get("kwargs", {})))
    return ctx.suites.add(suite)


def suite_for(kind: ArtifactKind):
    """The kind's GE ExpectationSuite, cached by (kind name, schema version, suite text)."""
    return _suite(kind.name, kind.version, json.dumps(load_suite_json(kind), sort_keys=True))


def _validate(frame: pd.DataFrame, suite, params: dict[str, Any], result_format: str):
    _, batch_definition = _context()
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    return batch.validate(suite, expectation_parameters=dict(params), result_format=result_format)


def run_suite(kind: ArtifactKind, frame: pd.DataFrame, params: dict[str, Any]) -> tuple[int, list[CheckFailure]]:
    """Validate `frame` with the kind's suite; returns (checks run, failures)."""
    missing = [p for p in kind.params if p not in params]
    if missing:
        load_suite_json(kind)  # a missing or malformed suite is named first
        raise ValueError(f"validating kind {kind.name!r} needs parameters {missing} (e.g. params={{'M': 4}})")
    with _lock:
        suite = suite_for(kind)
        result = _validate(frame, suite, params, FAST_FORMAT)
        if not all(res.success for res in result.results):
            result = _validate(frame, suite, params, REPORT_FORMAT)
    return len(result.results), [_failure(res, params) for res in result.results if not res.success]


def _failure(res, params: dict[str, Any]) -> CheckFailure:
    """The CheckFailure of one failed expectation result (SUMMARY format)."""
    cfg = res.expectation_config
    kwargs = cfg.kwargs
    column = kwargs.get("column") or ",".join(kwargs.get("column_list", []) or []) or None
    info = res.result or {}
    if res.exception_info and res.exception_info.get("raised_exception"):
        detail = f"could not be evaluated: {res.exception_info.get('exception_message')}"
    else:
        bounds = {k: kwargs[k] for k in ("min_value", "max_value", "value_set") if k in kwargs}
        bounds = {
            k: (params.get(v["$PARAMETER"]) if isinstance(v, dict) and "$PARAMETER" in v else v)
            for k, v in bounds.items()
        }
        detail = f"{info.get('unexpected_count', '?')} unexpected value(s)"
        if bounds:
            detail += f" (expected {', '.join(f'{k}={v}' for k, v in bounds.items())})"
        if info.get("observed_value") is not None:
            detail += f", observed {info['observed_value']!r}"
    return CheckFailure(
        check=cfg.type,
        column=column,
        detail=detail,
        examples=list(info.get("partial_unexpected_list") or [])[:5],
    )
