"""Runs a kind's great-expectations suite on a pandas frame (one ephemeral context per process)."""

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


@lru_cache(maxsize=1)
def _context():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
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
def _suite(kind_name: str, suite_text: str):
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    ctx, _ = _context()
    data = json.loads(suite_text)
    suite = gx.ExpectationSuite(name=f"plotline.{kind_name}.{abs(hash(suite_text))}")
    for exp in data["expectations"]:
        suite.add_expectation_configuration(ExpectationConfiguration(type=exp["type"], kwargs=exp.get("kwargs", {})))
    return ctx.suites.add(suite)


def run_suite(kind: ArtifactKind, frame: pd.DataFrame, params: dict[str, Any]) -> tuple[int, list[CheckFailure]]:
    """Validate `frame` with the kind's suite; returns (checks run, failures)."""
    suite_json = load_suite_json(kind)
    missing = [p for p in kind.params if p not in params]
    if missing:
        raise ValueError(f"validating kind {kind.name!r} needs parameters {missing} (e.g. params={{'M': 4}})")
    with _lock:
        _, batch_definition = _context()
        suite = _suite(kind.name, json.dumps(suite_json, sort_keys=True))
        batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(suite, expectation_parameters=dict(params), result_format="SUMMARY")
    failures = []
    for res in result.results:
        if res.success:
            continue
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
        failures.append(
            CheckFailure(
                check=cfg.type,
                column=column,
                detail=detail,
                examples=list(info.get("partial_unexpected_list") or [])[:5],
            )
        )
    return len(result.results), failures
