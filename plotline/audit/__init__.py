"""What a step produced: per stage, the committed version, its files, row counts, score statistics, best/worst rows.

Statistics are split by a table's group columns (`judge`, `role`, `metric`): judges, roles and metrics are never
pooled into one mean. Best/worst samples are ranked only on columns whose kind declares a direction (rewards,
scores, advantages), within each group, and a row is never listed as both best and worst."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from plotline.store import RunStore


@dataclass
class AuditRow:
    """One line of the audit table: a statistic of one column of one committed file."""

    step: int
    stage: str
    version: int
    file: str
    kind: str
    rows: int
    column: str = ""
    group: str = ""
    count: int = 0
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    validation: str = ""


@dataclass
class AuditReport:
    """Statistics rows and best/worst samples for a selection of a run, plus kind-specific detail tables
    (title → rows, e.g. the decisions of a reflection trail)."""

    rows: list[AuditRow] = field(default_factory=list)
    extremes: list[dict] = field(default_factory=list)
    details: dict[str, list[dict]] = field(default_factory=dict)


DETAIL_VIEWS = {"reflections": ("plotline.reflect.trail", "audit_detail")}
"""Artifact kind → (module, function(table) -> {title: rows}) of its detail tables (imported on use)."""


def detail_tables(kind: str, table: pa.Table) -> dict[str, list[dict]]:
    """The detail tables of one committed table of `kind` (empty for kinds without a detail view)."""
    if kind not in DETAIL_VIEWS:
        return {}
    import importlib

    module, fn = DETAIL_VIEWS[kind]
    return getattr(importlib.import_module(module), fn)(table)


def _stats(values: np.ndarray) -> tuple[int, float | None, float | None, float | None, float | None]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0, None, None, None, None
    return int(values.size), float(values.mean()), float(values.std()), float(values.min()), float(values.max())


def audit_run(store: RunStore, step: int | None = None, stage: str | None = None, n_extremes: int = 3) -> AuditReport:
    """Audit the newest committed version of every (or the selected) stage at every (or the selected) step."""
    from data_contracts import get_kind

    report = AuditReport()
    for area in ("steps", "checkpoints"):
        steps = [step] if step is not None else store.steps(area)
        for s in steps:
            for name in store.stages_at(s, area):
                if stage and name != stage:
                    continue
                art = store.latest(name, s, area)
                if art is None:
                    continue
                valid = {v.get("file"): ("ok" if v.get("success") else "FAILED") for v in art.manifest.validation}
                for entry in art.manifest.files:
                    if not entry.kind:
                        continue
                    table = art.read_table(entry.name)
                    kind = get_kind(entry.kind)
                    base = dict(
                        step=s,
                        stage=name,
                        version=art.manifest.version,
                        file=entry.name,
                        kind=entry.kind,
                        rows=table.num_rows,
                        validation=valid.get(entry.name, ""),
                    )
                    cols = [c for c in kind.score_columns if c in table.column_names]
                    groups = table_groups(table)
                    if not cols:
                        report.rows.append(AuditRow(**base))
                    for col in cols:
                        values = np.asarray(table.column(col).to_numpy(zero_copy_only=False), dtype=np.float64)
                        for label, picked in groups:
                            count, mean, std, lo, hi = _stats(values[picked])
                            report.rows.append(
                                AuditRow(
                                    **base, column=col, group=label, count=count, mean=mean, std=std, min=lo, max=hi
                                )
                            )
                    ranked = [c for c in kind.directions if c in cols and kind.directions[c] in ("higher", "lower")]
                    if ranked and kind.id_column and table.num_rows:
                        col = ranked[0]
                        for label, picked in groups:
                            report.extremes += _extremes(
                                table.take(np.flatnonzero(picked)),
                                kind.id_column,
                                col,
                                s,
                                name,
                                n_extremes,
                                kind.directions[col],
                                label,
                            )
                    for title, rows in detail_tables(entry.kind, table).items():
                        report.details.setdefault(title, []).extend({"step": s, "stage": name, **r} for r in rows)
    return report


GROUP_COLUMNS = ("role", "judge", "metric")
"""Columns that split a table's statistics and rankings into groups (role of an advantage, judge of a score,
name of an update metric)."""


def table_groups(table: pa.Table) -> list[tuple[str, np.ndarray]]:
    """(label, row mask) per group of the table's group columns (one group `""` of every row when it has none)."""
    cols = [g for g in GROUP_COLUMNS if g in table.column_names]
    if not cols:
        return [("", np.ones(table.num_rows, dtype=bool))]
    labels = np.array(
        ["/".join(str(v) for v in values) for values in zip(*(table.column(g).to_pylist() for g in cols))], dtype=object
    )
    return [(label, labels == label) for label in sorted(set(labels.tolist()))]


def _extremes(
    table: pa.Table,
    id_col: str,
    score_col: str,
    step: int,
    stage: str,
    n: int,
    direction: str = "higher",
    group: str = "",
) -> list[dict]:
    """The n best and n worst rows by `score_col` (better = `direction`); when the table has fewer than 2n scored
    rows, the best come first and the worst only from the rest (no row twice)."""
    ids = table.column(id_col).to_pylist()
    scores = np.asarray(table.column(score_col).to_numpy(zero_copy_only=False), dtype=np.float64)
    order = [int(i) for i in np.argsort(scores, kind="stable") if np.isfinite(scores[i])]
    if direction == "higher":
        order = order[::-1]
    best = order[:n]
    worst = [i for i in order[::-1] if i not in best][:n]
    out = []
    for label, picks in (("best", best), ("worst", worst)):
        for i in picks:
            out.append(
                {
                    "step": step,
                    "stage": stage,
                    "group": group,
                    "which": label,
                    "id": ids[i],
                    "column": score_col,
                    "value": float(scores[i]),
                }
            )
    return out
