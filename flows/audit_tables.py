"""Audit content for the Prefect UI, derived from committed manifests and tables only (no Prefect here).

Each function returns plain rows (lists of dicts) or markdown that flows/artifacts.py publishes as keyed artifacts:
statistics per column (plotline.audit), grouped reward statistics (per role / judge / metric), best and worst
samples with video links, plan samples with parse status, judge failure counts, and reward curves across steps.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from plotline.audit import GROUP_COLUMNS, AuditReport, audit_run
from plotline.store import Artifact, RunStore


def artifact_key(*parts: Any) -> str:
    """A Prefect artifact key (lowercase letters, digits, dashes) from free-form parts."""
    text = "-".join(str(p) for p in parts if str(p))
    key = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return key[:120].strip("-") or "plotline"


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return None if not math.isfinite(value) else float(f"{value:.6g}")
    return value


def stats_rows(report: AuditReport) -> list[dict[str, Any]]:
    """One row per (file, score column, group): count, mean, std, min, max and the validation outcome."""
    return [
        {
            "file": r.file,
            "kind": r.kind,
            "rows": r.rows,
            "column": r.column,
            "group": r.group,
            "count": r.count,
            "mean": _fmt(r.mean),
            "std": _fmt(r.std),
            "min": _fmt(r.min),
            "max": _fmt(r.max),
            "validation": r.validation,
        }
        for r in report.rows
    ]


def _numeric(table: pa.Table, column: str) -> np.ndarray:
    return np.asarray(table.column(column).to_numpy(zero_copy_only=False), dtype=np.float64)


def _kinded_tables(artifact: Artifact) -> list[tuple[str, str, pa.Table]]:
    out = []
    for entry in artifact.manifest.files:
        if entry.kind:
            out.append((entry.name, entry.kind, artifact.read_table(entry.name)))
    return out


def _score_columns(kind_name: str, table: pa.Table) -> list[str]:
    from data_contracts import get_kind

    return [c for c in get_kind(kind_name).score_columns if c in table.column_names]


def group_stats_rows(artifact: Artifact) -> list[dict[str, Any]]:
    """Reward statistics per group: per role (advantages), per judge (scores), per role/metric (update metrics).

    Null scores count as `missing` (unscored samples are never averaged in as 0)."""
    rows = []
    for name, kind, table in _kinded_tables(artifact):
        group_cols = [g for g in GROUP_COLUMNS if g in table.column_names]
        if not group_cols:
            continue
        group_col = "/".join(group_cols)
        groups = [
            "/".join(str(v) for v in values) for values in zip(*(table.column(g).to_pylist() for g in group_cols))
        ]
        for col in _score_columns(kind, table):
            values = _numeric(table, col)
            for group in sorted(set(groups), key=str):
                picked = values[[g == group for g in groups]]
                finite = picked[np.isfinite(picked)]
                rows.append(
                    {
                        "file": name,
                        "group_by": group_col,
                        "group": group,
                        "column": col,
                        "rows": int(picked.size),
                        "missing": int(picked.size - finite.size),
                        "mean": _fmt(float(finite.mean())) if finite.size else None,
                        "std": _fmt(float(finite.std())) if finite.size else None,
                        "min": _fmt(float(finite.min())) if finite.size else None,
                        "max": _fmt(float(finite.max())) if finite.size else None,
                    }
                )
    return rows


def video_links(store: RunStore, step: int, rollout_stage: str = "rollout") -> dict[str, str]:
    """rollout_id -> URL of its committed video at `step` (empty when no rollout with videos is committed)."""
    art = store.latest(rollout_stage, step)
    if art is None:
        return {}
    names = {e.name: e.path for e in art.manifest.files}
    links = {}
    for _, _kind, table in _kinded_tables(art):
        if {"rollout_id", "video_path"} <= set(table.column_names):
            for rid, path in zip(table.column("rollout_id").to_pylist(), table.column("video_path").to_pylist()):
                if path:
                    links[rid] = f"{art.uri}/{names[path]}" if path in names else path
    return links


def extremes_rows(report: AuditReport, links: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Best and worst samples by each file's first score column, with a video link when the sample has one."""
    links = links or {}
    return [
        {
            "group": e["group"],
            "which": e["which"],
            "id": e["id"],
            "column": e["column"],
            "value": _fmt(e["value"]),
            "video": links.get(str(e["id"]).split(":")[-1], links.get(e["id"], "")),
        }
        for e in report.extremes
    ]


def plan_sample_rows(table: pa.Table, n: int) -> list[dict[str, Any]]:
    """Up to `n` plans, failed and padded ones first, with parse status, format reward and their steps."""
    rows = table.select(
        [
            c
            for c in ("plan_id", "instruction_id", "prompt", "parse_status", "format_reward", "steps", "error")
            if c in table.column_names
        ]
    ).to_pylist()
    order = {"failed": 0, "padded": 1}
    rows.sort(key=lambda r: (order.get(r.get("parse_status"), 2), str(r.get("plan_id"))))
    out = []
    for r in rows[:n]:
        steps = r.get("steps") or []
        out.append(
            {
                "plan_id": r.get("plan_id"),
                "parse_status": r.get("parse_status"),
                "format_reward": _fmt(r.get("format_reward")),
                "prompt": _clip(r.get("prompt")),
                "steps": _clip(" | ".join(steps), 300),
                "error": _clip(r.get("error") or ""),
            }
        )
    return out


def parse_status_counts(table: pa.Table) -> dict[str, int]:
    """How many plans parsed ok, were padded, or failed."""
    return dict(Counter(table.column("parse_status").to_pylist())) if "parse_status" in table.column_names else {}


def judge_failure_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Per judge: scored (status `ok` or `repaired`) / unscored counts and the unscored reasons (an unscored reply
    is never a silent 0); `repaired` replies are also counted on their own."""
    judges = table.column("judge").to_pylist()
    statuses = table.column("status").to_pylist()
    reasons = table.column("reason").to_pylist() if "reason" in table.column_names else [None] * len(judges)
    rows = []
    for judge in sorted(set(judges)):
        picked = [(s, r) for j, s, r in zip(judges, statuses, reasons) if j == judge]
        unscored = [r or "(no reason)" for s, r in picked if s == "unscored"]
        top = Counter(unscored).most_common(3)
        rows.append(
            {
                "judge": judge,
                "items": len(picked),
                "scored": len(picked) - len(unscored),
                "repaired": sum(1 for s, _ in picked if s == "repaired"),
                "unscored": len(unscored),
                "unscored_share": _fmt(len(unscored) / len(picked)) if picked else 0.0,
                "top_reasons": "; ".join(f"{_clip(r, 80)} ×{c}" for r, c in top),
            }
        )
    return rows


def video_rows(table: pa.Table, links: dict[str, str], n: int) -> list[dict[str, Any]]:
    """The first `n` rollouts with links to their decoded videos."""
    cols = [c for c in ("rollout_id", "plan_id", "switch_step", "step_prompt") if c in table.column_names]
    return [
        {**{c: r[c] for c in cols}, "video": links.get(r["rollout_id"], "")} for r in table.select(cols).to_pylist()[:n]
    ]


def _clip(text: Any, n: int = 160) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= n else text[: n - 1] + "…"


def step_metrics(store: RunStore, step: int) -> dict[str, float]:
    """Mean of every score column at `step`, split by role / judge / metric: the points of the reward curves."""
    out: dict[str, float] = {}
    for stage in store.stages_at(step):
        art = store.latest(stage, step)
        if art is None:
            continue
        for row in group_stats_rows(art):
            if row["mean"] is not None:
                out[f"{stage}.{row['column']}[{row['group']}]"] = row["mean"]
        grouped = {r["file"] for r in group_stats_rows(art)}
        for name, kind, table in _kinded_tables(art):
            if name in grouped:
                continue
            for col in _score_columns(kind, table):
                values = _numeric(table, col)
                values = values[np.isfinite(values)]
                if values.size:
                    out[f"{stage}.{col}"] = _fmt(float(values.mean()))
    return out


def curve_markdown(run_id: str, metrics: dict[int, dict[str, float]], max_columns: int = 12) -> str:
    """Reward curves as a markdown table: one row per step, one column per (stage.column[group]) mean."""
    if not metrics:
        return f"# Reward curves of run `{run_id}`\n\nNothing scored yet."
    names = sorted({k for m in metrics.values() for k in m}, key=_curve_priority)[:max_columns]
    lines = [
        f"# Reward curves of run `{run_id}`",
        "",
        "Mean per step (unscored samples excluded).",
        "",
        "| step | " + " | ".join(f"`{n}`" for n in names) + " |",
        "|---:|" + "---:|" * len(names),
    ]
    for step in sorted(metrics):
        cells = [metrics[step].get(n) for n in names]
        lines.append(f"| {step} | " + " | ".join("" if c is None else f"{c:.4g}" for c in cells) + " |")
    return "\n".join(lines)


def curve_image_markdown(run_id: str, metrics: dict[int, dict[str, float]], image_url: str | None) -> str:
    """The reward-curve artifact: the chart (an image) and the curves under the same labels as `plotline train`'s
    closing summary, one row per integer step, then every per-step mean (curve_markdown)."""
    from plotline.world.curves import curve_rows

    labels, rows = curve_rows(metrics)
    lines = [f"# Reward curves of run `{run_id}`", ""]
    if image_url:
        lines += [f"![reward curves of run {run_id}]({image_url})", ""]
    if labels:
        lines += ["| step | " + " | ".join(labels) + " |", "|---:|" + "---:|" * len(labels)]
        lines += [f"| {int(r[0])} | " + " | ".join("" if v is None else f"{v:.3f}" for v in r[1:]) + " |" for r in rows]
        lines.append("")
    body = curve_markdown(run_id, metrics).split("\n", 1)[1]
    return "\n".join(lines) + "\n## Every per-step mean\n" + body


def _curve_priority(name: str) -> tuple[int, str]:
    for i, word in enumerate(("reward", "score", "format_reward", "advantage", "loss", "value")):
        if f".{word}" in name:
            return i, name
    return 99, name


def summary_markdown(artifact: Artifact, status: str, extra: dict[str, Any] | None = None) -> str:
    """Markdown summary of one committed stage output: lineage, files, the validation report and summary values."""
    m = artifact.manifest
    lines = [
        f"# {m.stage} · step {m.step} · v{m.version:04d} ({status})",
        "",
        f"- manifest `{m.manifest_id}`: {artifact.uri}/_manifest.json",
        (
            f"- run `{m.run_id}`, code `{m.code_version}`, config hash `{m.config_hash[:12]}` over "
            f"{', '.join(m.config_sections) or 'nothing'}"
        ),
        f"- attempt `{m.attempt}`, created {m.created_at}",
        "",
    ]
    if m.inputs:
        lines += ["## Inputs", "", "| key | stage | step | version | manifest |", "|---|---|---:|---:|---|"]
        lines += [f"| {i.key} | {i.stage} | {i.step} | {i.version} | `{i.manifest_id}` |" for i in m.inputs]
        lines.append("")
    lines += ["## Files", "", "| file | kind | rows | bytes |", "|---|---|---:|---:|"]
    lines += [f"| {f.name} | {f.kind or ''} | {'' if f.rows is None else f.rows} | {f.bytes} |" for f in m.files[:50]]
    if len(m.files) > 50:
        lines.append(f"| … {len(m.files) - 50} more | | | |")
    lines += ["", "## Validation", ""]
    if not m.validation:
        lines.append("No contract-checked tables in this output.")
    for v in m.validation:
        ok = "OK" if v.get("success") else "FAILED"
        lines.append(
            f"- `{v.get('file')}` ({v.get('kind')}): {ok}, {v.get('checks_run', 0)} checks on {v.get('rows', 0)} rows"
            + (f", params {v['params']}" if v.get("params") else "")
        )
        lines += [f"  - {f}" for f in v.get("failures", [])]
    summary = {**m.summary, **(extra or {})}
    if summary:
        lines += ["", "## Summary", "", "| key | value |", "|---|---|"]
        lines += [f"| {k} | {_clip(_fmt(v), 200)} |" for k, v in summary.items()]
    return "\n".join(lines)


MEDIA_FOLDER = "_media"
"""Run subfolder of derived pictures (filmstrips, GIFs); never inside a committed version folder."""


def write_media(
    store: RunStore, rollouts: Artifact, rollout_ids: list[str], scale: int = 4
) -> dict[str, tuple[str, str]]:
    """Write a filmstrip PNG and an upscaled GIF (nearest neighbour) of each named rollout's sampled frames under
    `<run>/_media/step=N/`; returns rollout id -> (PNG URI, GIF URI)."""
    from plotline.audit.media import filmstrip, gif_bytes, png_bytes
    from plotline.store.layout import step_folder

    rows = {r["rollout_id"]: r for r in rollouts.read_table("rollouts.parquet").to_pylist()}
    cache: dict[str, Any] = {}
    out = {}
    for rid in rollout_ids:
        row = rows.get(rid)
        if row is None:
            continue
        if row["frames_path"] not in cache:
            cache[row["frames_path"]] = rollouts.read_tensors(row["frames_path"])["frames"].numpy()
        frames = cache[row["frames_path"]][row["group_index"]]
        base = f"{store.run_id}/{MEDIA_FOLDER}/{step_folder(rollouts.manifest.step)}/{re.sub(r'[^A-Za-z0-9._-]+', '_', rid)}"
        store.fs.write_bytes(base + ".png", png_bytes(filmstrip(frames, scale)))
        store.fs.write_bytes(base + ".gif", gif_bytes(frames, scale=max(scale, 8)))
        out[rid] = (store.fs.url(base + ".png"), store.fs.url(base + ".gif"))
    return out


def samples_with_media(
    store: RunStore, step: int, rewards, advantage, link: Callable[[str], str | None], n_media: int
) -> list[dict[str, Any]]:
    """The step's samples table (plotline.audit.samples) with filmstrip/GIF links for the first `n_media`
    continuations (a planner row links to its first continuation's pictures)."""
    from plotline.audit.lineage import StepLineage
    from plotline.audit.samples import sample_rows

    lineage = StepLineage(store, step, head="advantage")
    media: dict[str, tuple[str, str]] = {}
    rollouts = lineage.get("rollout")
    if rollouts is not None and n_media > 0:
        ids = rollouts.read_table("rollouts.parquet").column("rollout_id").to_pylist()
        media = write_media(store, rollouts, ids[:n_media])

    def pictures(sample_id: str) -> tuple[str, str] | None:
        hit = media.get(sample_id) or next((v for k, v in media.items() if k.startswith(sample_id + "/")), None)
        return (link(hit[0]) or "", link(hit[1]) or "") if hit else None

    return sample_rows(lineage, rewards, advantage, pictures)


def stage_audit(
    store: RunStore, artifact: Artifact, n_samples: int, link: Callable[[str], str | None] = lambda uri: uri
) -> dict[str, Any]:
    """Everything the UI shows for one committed stage output, as plain data (see flows/artifacts.py); file
    URIs go through `link` (browser links)."""
    m = artifact.manifest
    report = audit_run(store, step=m.step, stage=m.stage, n_extremes=max(1, n_samples // 2 + n_samples % 2))
    links = {k: link(v) or "" for k, v in video_links(store, m.step).items()}
    out: dict[str, Any] = {
        "stats": stats_rows(report),
        "groups": group_stats_rows(artifact),
        "samples": extremes_rows(report, links),
        "plans": [],
        "judges": [],
        "videos": [],
        "reflections": [{k: _fmt(v) for k, v in r.items()} for r in report.details.get("reflection videos", [])],
        "extra": {},
    }
    for _name, kind, table in _kinded_tables(artifact):
        if kind == "plans":
            out["plans"] += plan_sample_rows(table, n_samples)
            out["extra"]["parse_status"] = parse_status_counts(table)
        elif kind == "scores":
            out["judges"] += judge_failure_rows(table)
        elif kind == "rollouts":
            out["videos"] += video_rows(table, links, n_samples)
    return out
