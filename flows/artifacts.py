"""Publish the audit of committed stage outputs as keyed Prefect artifacts (what the UI's Artifacts page shows).

Keys are `<run>-<stage>-<what>` (a new version per step, so the UI shows the history of each key) and
`<run>-reward-curve`. Content comes from flows/audit_tables.py, i.e. from committed manifests and tables only.
Publishing never fails a stage: an error is logged as a warning.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from prefect import get_run_logger
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from flows.audit_tables import (
    artifact_key,
    curve_image_markdown,
    samples_with_media,
    stage_audit,
    step_metrics,
    summary_markdown,
)
from flows.links import Linker
from plotline.config import PlotlineConfig
from plotline.progress import ProgressEvent
from plotline.store import RunStore

TABLES = {
    "stats": "column statistics",
    "groups": "reward statistics per role / judge / metric",
    "samples": "best and worst samples",
    "plans": "plan samples with parse status",
    "judges": "judge failure counts",
    "videos": "rollout videos",
    "chain": "every sample: plan, judges, reward, group mean/std, advantage, filmstrip/GIF links",
    "reflections": "reflection trail: cost and decisions per video",
}
"""Table artifacts per stage: suffix of the key -> what it holds."""

TABLE_SUFFIX = {"judges": "judge-failures", "plans": "plan-samples", "chain": "sample-chain"}


def stage_keys(run_id: str, stage: str) -> dict[str, str]:
    """Every artifact key a stage output can publish (the table ones only when the output has such data)."""
    keys = {
        "manifest": artifact_key(run_id, stage, "manifest"),
        "summary": artifact_key(run_id, stage, "summary"),
        "progress": artifact_key(run_id, stage, "progress"),
    }
    keys.update({name: artifact_key(run_id, stage, TABLE_SUFFIX.get(name, name)) for name in TABLES})
    return keys


def eval_report_key(run_id: str) -> str:
    """Key of a run's evaluation report artifact (`<run>-eval-report`)."""
    return artifact_key(run_id, "eval-report")


def report_markdown(art, link: Callable[[str], str | None]) -> str:
    """A committed report.md with its relative links (plots, videos) turned into browser links."""
    import re

    text = art.read_bytes("report.md").decode()
    paths = {e.name: e.path for e in art.manifest.files}

    def fix(match: re.Match[str]) -> str:
        target = match.group(2)
        if "://" in target or target.startswith(("#", "data:")) or target not in paths:
            return match.group(0)
        return f"{match.group(1)}({link(f'{art.uri}/{paths[target]}') or target})"

    return re.sub(r"(!?\[[^\]]*\])\(([^)\s]+)\)", fix, text)


def curve_key(run_id: str) -> str:
    """Key of a run's reward-curve markdown artifact."""
    return artifact_key(run_id, "reward-curve")


def publish_stage_audit(rec: dict[str, Any], config: PlotlineConfig, run_uri: str) -> list[str]:
    """Create the artifacts of one committed stage output; returns the keys created."""
    logger = get_run_logger()
    try:
        store = RunStore(run_uri, config.storage)
        art = store.artifact_at(rec["uri"])
        m = art.manifest
        keys = stage_keys(store.run_id, m.stage)
        where = f"{m.stage} step {m.step} v{m.version}"
        link = Linker(config.storage)
        audit = stage_audit(store, art, config.orchestration.audit_samples, link)
        if m.stage == "advantage":
            audit["chain"] = samples_with_media(
                store, m.step, config.rewards, config.rl.advantage, link, config.orchestration.audit_samples
            )
        created = []
        manifest_url = link(f"{art.uri}/_manifest.json")
        if manifest_url:
            create_link_artifact(
                link=manifest_url,
                link_text=f"{where} manifest {m.manifest_id}",
                key=keys["manifest"],
                description=f"Committed manifest of {where}",
            )
        else:  # no browser link possible (local store without `plotline ui`): say where it is, never file://
            create_markdown_artifact(
                markdown=f"Manifest of {where}: `{art.uri}/_manifest.json` (start `plotline ui` "
                f"to serve local stores over loopback HTTP)",
                key=keys["manifest"],
                description=f"Committed manifest of {where}",
            )
        created.append(keys["manifest"])
        create_markdown_artifact(
            markdown=summary_markdown(art, rec["status"], audit["extra"]),
            key=keys["summary"],
            description=f"{where}: lineage, files, validation report, summary",
        )
        created.append(keys["summary"])
        if "report.md" in art.files:
            key = eval_report_key(store.run_id)
            create_markdown_artifact(
                markdown=report_markdown(art, link),
                key=key,
                description=f"Evaluation report of run {store.run_id} ({where})",
            )
            created.append(key)
        for name, what in TABLES.items():
            if audit.get(name):
                create_table_artifact(table=audit[name], key=keys[name], description=f"{where}: {what}")
                created.append(keys[name])
        return created
    except Exception as exc:  # noqa: BLE001 - the audit must never fail a committed stage
        logger.warning(
            f"could not publish audit artifacts for {rec.get('stage')} step {rec.get('step')}: "
            f"{type(exc).__name__}: {exc}"
        )
        return []


class RewardCurve:
    """Per-step means of every score column, published as one markdown artifact per run (updated each step)."""

    def __init__(self, config: PlotlineConfig, run_uri: str):
        self.store = RunStore(run_uri, config.storage)
        self.link = Linker(config.storage)
        self.points: dict[int, dict[str, float]] = {}

    def _image(self, points: dict[int, dict[str, float]]) -> str | None:
        """Write the chart PNG to `<run>/_media/reward_curves.png`; its browser link, else an inline data URI."""
        import base64

        from plotline.world.curves import plot_curves

        if not points:
            return None
        png = plot_curves(points, f"reward curves of run {self.store.run_id}")
        rel = f"{self.store.run_id}/_media/reward_curves.png"
        self.store.fs.write_bytes(rel, png)
        return self.link(self.store.fs.url(rel)) or "data:image/png;base64," + base64.b64encode(png).decode()

    def publish(self, steps: list[int]) -> str | None:
        """Recompute the given steps (cached otherwise) and publish the curve; returns its key."""
        try:
            for step in steps:
                self.points[step] = step_metrics(self.store, step)
            for step in self.store.steps():
                if step not in self.points:
                    self.points[step] = step_metrics(self.store, step)
            key = curve_key(self.store.run_id)
            points = {s: p for s, p in self.points.items() if p}
            create_markdown_artifact(
                markdown=curve_image_markdown(self.store.run_id, points, self._image(points)),
                key=key,
                description=f"Reward curves across steps of run {self.store.run_id}",
            )
            return key
        except Exception as exc:  # noqa: BLE001
            get_run_logger().warning(f"could not publish the reward curve: {type(exc).__name__}: {exc}")
            return None


class ProgressReporter:
    """A progress artifact for a long stage, fed by StageContext.progress through run_stage's `progress_hook`.

    The artifact is created by the first report (the stage's first progress step, or `finish`) and updated by the
    later ones: a stage that reports nothing costs one API write, not two."""

    def __init__(self, key: str, description: str, interval_s: float = 2.0):
        self.key, self.description, self.interval_s = key, description, interval_s
        self.artifact_id: UUID | None = None
        self._last = float("-inf")  # the first report always goes through
        self._detail: dict[str, str] = {}
        self._failed = False

    def start(self) -> None:
        """Begin reporting (the artifact itself is created with the first report)."""
        self._last = float("-inf")

    def _set(self, percent: float, description: str | None = None) -> None:
        if self._failed:
            return
        percent = max(0.0, min(100.0, percent))
        try:
            if self.artifact_id is None:
                self.artifact_id = create_progress_artifact(
                    progress=percent, key=self.key, description=description or self.description
                )
            else:
                update_progress_artifact(artifact_id=self.artifact_id, progress=percent, description=description)
        except Exception:  # noqa: BLE001 - progress is best effort
            self._failed = self.artifact_id is None

    @property
    def hook(self) -> Callable[[ProgressEvent], None]:
        """The `progress_hook(event)` for run_stage (throttled to one update per interval; the last report of a
        task always goes through)."""

        def report(event: ProgressEvent) -> None:
            now = time.monotonic()
            last = bool(event.total) and event.done >= (event.total or 0)
            loss = "" if event.loss is None else f", loss {event.loss:.4g}"
            self._detail[event.label] = f"{event.label} {event.done}/{event.total or '?'}{loss}"
            if not event.total or (not last and now - self._last < self.interval_s):
                return
            self._last = now
            self._set(100.0 * event.done / event.total, f"{self.description}: {self._detail[event.label]}")

        return report

    def finish(self) -> None:
        """Mark 100 %, with the last report of each of the stage's tasks (e.g. the final losses)."""
        tasks = "; ".join(self._detail.values())
        self._set(100.0, f"{self.description}: done" + (f" ({tasks})" if tasks else ""))
