"""Which committed version of each stage a step's newest (or chosen) output was computed from, by lineage."""

from __future__ import annotations

from dataclasses import dataclass

from plotline.store import Artifact, RunStore

CHAIN_HEADS = ("advantage", "score", "rollout", "plan")
"""Stages a sample's chain can start from, most downstream first (the first committed one is the head)."""


@dataclass
class LineageEntry:
    """One stage of a chain: the version the chain used, who consumed it, and the newest committed version."""

    stage: str
    step: int
    version: int
    newest: int
    manifest_id: str
    consumed_by: str
    area: str = "steps"

    def as_dict(self) -> dict:
        """Plain data for tables and JSON."""
        return {
            "stage": self.stage,
            "step": self.step,
            "version": self.version,
            "newest": self.newest,
            "manifest_id": self.manifest_id,
            "consumed_by": self.consumed_by,
            "area": self.area,
        }


class StepLineage:
    """The artifacts of one step as the head's lineage names them: each stage at the version its consumer read
    (so a later `--force` rerun of an upstream stage is shown, not silently substituted)."""

    def __init__(self, store: RunStore, step: int, head_version: int | None = None, head: str | None = None):
        self.store, self.step = store, step
        heads = [head] if head else [h for h in CHAIN_HEADS if store.versions(h, step)]
        if not heads or not store.versions(heads[0], step):
            raise LookupError(
                f"nothing of {', '.join(heads or CHAIN_HEADS)} is committed at step {step} of {store.uri}"
            )
        self.head = heads[0]
        versions = store.versions(self.head, step)
        version = versions[-1] if head_version is None else head_version
        if version not in versions:
            raise LookupError(
                f"{self.head} step {step} has no committed version {version}; committed: "
                f"{', '.join(f'v{v}' for v in versions)}"
            )
        self.artifacts: dict[str, Artifact] = {}
        self.entries: list[LineageEntry] = []
        self._add(store.artifact(self.head, step, version), consumed_by="(head)")

    def _add(self, art: Artifact, consumed_by: str) -> None:
        m = art.manifest
        if m.stage in self.artifacts:
            return
        self.artifacts[m.stage] = art
        newest = self.store.versions(m.stage, m.step, m.area)
        self.entries.append(
            LineageEntry(
                m.stage, m.step, m.version, newest[-1] if newest else m.version, m.manifest_id, consumed_by, m.area
            )
        )
        for ref in m.inputs:
            if ref.step != self.step or ref.area != "steps" or ref.stage in self.artifacts:
                continue
            self._add(
                self.store.artifact(ref.stage, ref.step, ref.version, ref.area), consumed_by=f"{m.stage} v{m.version}"
            )

    def get(self, stage: str) -> Artifact | None:
        """The version of `stage` in this lineage (None when the chain does not reach it)."""
        return self.artifacts.get(stage)
